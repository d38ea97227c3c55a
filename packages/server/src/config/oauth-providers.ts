import { createPrivateKey } from 'node:crypto'
import { ConfigError, type ConfigProblem } from './config-error.js'
import { isLoopbackHost } from './parsers.js'

/** How Tessera authenticates at a provider's token endpoint (RFC 6749 §2.3.1 requires basic of every server). */
export const TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const
export type TokenAuthMethod = (typeof TOKEN_AUTH_METHODS)[number]

/** Which claim says that the provider checked the email: `email_verified`, or Microsoft's `xms_edov`. */
export const EMAIL_VERIFIED_CLAIMS = ['email_verified', 'xms_edov'] as const
export type EmailVerifiedClaim = (typeof EMAIL_VERIFIED_CLAIMS)[number]

/**
 * How Tessera talks to a provider: `oidc`, OpenID Connect by discovery with an ID token (Apple is
 * one, with its signed client secret); `github`, GitHub's OAuth 2 and its user and emails API.
 */
export const PROVIDER_PROTOCOLS = ['oidc', 'github'] as const
export type ProviderProtocol = (typeof PROVIDER_PROTOCOLS)[number]

/** How the provider brings its answer to the callback: a GET query, or a POSTed form (`form_post`). */
export const RESPONSE_MODES = ['query', 'form_post'] as const
export type ResponseMode = (typeof RESPONSE_MODES)[number]

/** Apple's client secret: an ES256 JWT Tessera signs with a key from Apple's developer account. */
export interface SignedClientSecret {
  /** `_TEAM_ID`: the JWT's `iss`. */
  readonly teamId: string
  /** `_KEY_ID`: the JWT's `kid`. */
  readonly keyId: string
  /** `_PRIVATE_KEY`: the P-256 key as PKCS #8 PEM. */
  readonly privateKey: string
}

/** One provider users may sign in with (`TESSERA_OAUTH_<ID>_*`). */
export interface OAuthProviderConfig {
  /** The id in TESSERA_OAUTH_PROVIDERS and in the paths (`/auth/oauth/<id>/start`). */
  readonly id: string
  /** What a sign-in button says (`_NAME`; the preset's, else the id). */
  readonly name: string
  readonly protocol: ProviderProtocol
  /**
   * The issuer whose `/.well-known/openid-configuration` is discovered (`_ISSUER`, or the preset's);
   * for `github`, the site its sign-in pages are on (`_BASE_URL`, default https://github.com).
   */
  readonly issuer: string
  /** `github`: the base of its REST API (`_API_URL`, default https://api.github.com); else null. */
  readonly apiUrl: string | null
  readonly clientId: string
  readonly clientSecret: string
  /** Space-separated scopes asked for (`_SCOPE`); always with `openid` where the protocol is `oidc`. */
  readonly scope: string
  readonly tokenAuth: TokenAuthMethod
  readonly emailVerifiedClaim: EmailVerifiedClaim
  /** Apple's ID tokens may say `"email_verified": "true"`, a string, which counts then too. */
  readonly emailVerifiedString: boolean
  /** `_RESPONSE_MODE`: `form_post` answers by POST, and its state cookie is then SameSite=None. */
  readonly responseMode: ResponseMode
  /** Apple: the key its client secret is signed with (`_CLIENT_SECRET` is then not read); else null. */
  readonly signedSecret: SignedClientSecret | null
  /** A plain-http loopback issuer (only outside production): openid-client must be told to allow it. */
  readonly insecureLoopback: boolean
}

interface Preset {
  readonly name: string
  readonly protocol?: ProviderProtocol
  /** Absent where the issuer names the operator's own tenant or instance: `_ISSUER` is then required. */
  readonly issuer?: string
  readonly tokenAuth: TokenAuthMethod
  readonly emailVerifiedClaim: EmailVerifiedClaim
  readonly scope?: string
  readonly responseMode?: ResponseMode
  /** Apple: the client secret is a JWT signed with `_TEAM_ID`, `_KEY_ID`, `_PRIVATE_KEY`. */
  readonly signedSecret?: true
}

const GITHUB_BASE_URL = 'https://github.com'
const GITHUB_API_URL = 'https://api.github.com'

/** The providers known by id: their issuer and what they need. */
const PRESETS: Readonly<Record<string, Preset>> = {
  google: {
    name: 'Google',
    issuer: 'https://accounts.google.com',
    tokenAuth: 'client_secret_basic',
    emailVerifiedClaim: 'email_verified',
  },
  gitlab: {
    name: 'GitLab',
    issuer: 'https://gitlab.com',
    tokenAuth: 'client_secret_basic',
    emailVerifiedClaim: 'email_verified',
  },
  // the issuer names the tenant (https://login.microsoftonline.com/<tenant id>/v2.0): a
  // multi-tenant `common` document's issuer is a template that no ID token matches
  microsoft: { name: 'Microsoft', tokenAuth: 'client_secret_post', emailVerifiedClaim: 'xms_edov' },
  // OAuth 2 without OpenID Connect: the identity comes from its REST API (/user, /user/emails)
  github: {
    name: 'GitHub',
    protocol: 'github',
    tokenAuth: 'client_secret_post',
    emailVerifiedClaim: 'email_verified',
    scope: 'read:user user:email',
  },
  // Apple answers by form_post when it is asked for the name or email, and takes its client
  // secret only as a JWT signed with the team's key, sent in the body
  apple: {
    name: 'Apple',
    issuer: 'https://appleid.apple.com',
    tokenAuth: 'client_secret_post',
    emailVerifiedClaim: 'email_verified',
    scope: 'openid email name',
    responseMode: 'form_post',
    signedSecret: true,
  },
}

const ID_PATTERN = /^[a-z][a-z0-9]{0,31}$/

/** Provider ids, comma-separated: lower-case letters and digits, as they appear in paths and variables. */
export const providerIds = (variable: string, raw: string): readonly string[] => {
  const ids = raw
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '')
  for (const id of ids) {
    if (!ID_PATTERN.test(id)) {
      throw new ConfigError(variable, `"${id}" is not a provider id (a-z then a-z0-9, up to 32)`)
    }
  }
  if (new Set(ids).size !== ids.length) throw new ConfigError(variable, 'names a provider twice')
  return ids
}

/** The variables of each provider's family, after `TESSERA_OAUTH_<ID>_`. */
export const PROVIDER_VARIABLES = [
  'CLIENT_ID',
  'CLIENT_SECRET',
  'ISSUER',
  'SCOPE',
  'NAME',
  'TOKEN_AUTH',
  'RESPONSE_MODE',
  'BASE_URL',
  'API_URL',
  'TEAM_ID',
  'KEY_ID',
  'PRIVATE_KEY',
] as const

/** Whether `variable` is one of a provider's family (`TESSERA_OAUTH_ACME_ISSUER`). */
export const isProviderVariable = (variable: string): boolean =>
  PROVIDER_VARIABLES.some((name) => new RegExp(`^TESSERA_OAUTH_[A-Z][A-Z0-9]*_${name}$`).test(variable))

type Env = Readonly<Record<string, string | undefined>>

/**
 * Reads `TESSERA_OAUTH_<ID>_*` of every id: a family of variables per provider, which the table of
 * single variables cannot list. Returns the providers and a problem per bad variable.
 */
export function readOAuthProviders(
  env: Env,
  ids: readonly string[],
  production: boolean,
): { providers: OAuthProviderConfig[]; problems: ConfigProblem[] } {
  const providers: OAuthProviderConfig[] = []
  const problems: ConfigProblem[] = []
  for (const id of ids) {
    try {
      providers.push(readProvider(env, id, production))
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      problems.push(...error.errors)
    }
  }
  return { providers, problems }
}

function readProvider(env: Env, id: string, production: boolean): OAuthProviderConfig {
  const prefix = `TESSERA_OAUTH_${id.toUpperCase()}_`
  const value = (name: string): string | undefined => {
    const raw = env[prefix + name]?.trim()
    return raw === undefined || raw === '' ? undefined : raw
  }
  const required = (name: string, why = 'is required'): string => {
    const raw = value(name)
    if (raw === undefined) throw new ConfigError(prefix + name, why)
    return raw
  }
  const refused = (name: string, why: string): void => {
    if (value(name) !== undefined) throw new ConfigError(prefix + name, why)
  }
  const preset = PRESETS[id]
  const protocol = preset?.protocol ?? 'oidc'
  const github = protocol === 'github'
  if (github) refused('ISSUER', 'GitHub has no OpenID issuer: set _BASE_URL (and _API_URL) instead')
  else {
    refused('BASE_URL', 'is read only for the github preset')
    refused('API_URL', 'is read only for the github preset')
  }
  const signed = preset?.signedSecret === true
  if (!signed) {
    for (const name of ['TEAM_ID', 'KEY_ID', 'PRIVATE_KEY'])
      refused(name, 'is read only for the apple preset')
  }
  const issuerName = github ? 'BASE_URL' : 'ISSUER'
  const rawIssuer =
    value(issuerName) ??
    (github ? GITHUB_BASE_URL : preset?.issuer) ??
    required('ISSUER', 'is required: the OpenID issuer, whose /.well-known/openid-configuration is read')
  const issuer = parseIssuer(prefix + issuerName, rawIssuer, production)
  const api = github ? parseIssuer(`${prefix}API_URL`, value('API_URL') ?? GITHUB_API_URL, production) : null
  const tokenAuth = value('TOKEN_AUTH') ?? preset?.tokenAuth ?? 'client_secret_basic'
  if (!(TOKEN_AUTH_METHODS as readonly string[]).includes(tokenAuth)) {
    throw new ConfigError(
      `${prefix}TOKEN_AUTH`,
      `expected one of ${TOKEN_AUTH_METHODS.join(', ')}, got "${tokenAuth}"`,
    )
  }
  const responseMode = value('RESPONSE_MODE') ?? preset?.responseMode ?? 'query'
  if (!(RESPONSE_MODES as readonly string[]).includes(responseMode)) {
    throw new ConfigError(
      `${prefix}RESPONSE_MODE`,
      `expected one of ${RESPONSE_MODES.join(', ')}, got "${responseMode}"`,
    )
  }
  if (github && responseMode !== 'query') {
    throw new ConfigError(`${prefix}RESPONSE_MODE`, 'GitHub answers only by query')
  }
  const scopes = (value('SCOPE') ?? preset?.scope ?? 'openid email profile').split(/\s+/)
  return Object.freeze({
    id,
    name: value('NAME') ?? preset?.name ?? id,
    protocol,
    // one spelling of GitHub's site, as it keys the identities
    issuer: github ? issuer.url.replace(/\/+$/, '') : issuer.url,
    apiUrl: api === null ? null : api.url.replace(/\/+$/, ''),
    clientId: required('CLIENT_ID'),
    // Apple's is signed anew by Tessera (flows/providers/signed-client-secret.ts)
    clientSecret: signed ? '' : required('CLIENT_SECRET'),
    // an ID token, and so the nonce and the subject, come only with `openid`
    scope: (github || scopes.includes('openid') ? scopes : ['openid', ...scopes]).join(' '),
    tokenAuth: tokenAuth as TokenAuthMethod,
    emailVerifiedClaim: preset?.emailVerifiedClaim ?? 'email_verified',
    emailVerifiedString: signed,
    responseMode: responseMode as ResponseMode,
    signedSecret: signed
      ? Object.freeze({
          teamId: required('TEAM_ID', "is required: the Team ID of Apple's developer account"),
          keyId: required('KEY_ID', 'is required: the Key ID of the Sign in with Apple key'),
          privateKey: signingKey(`${prefix}PRIVATE_KEY`, required('PRIVATE_KEY')),
        })
      : null,
    insecureLoopback: issuer.insecureLoopback || (api?.insecureLoopback ?? false),
  })
}

/**
 * Apple's `.p8` key: PKCS #8 PEM of a P-256 key. Written on one line with `\n` where an
 * environment cannot hold line breaks. The message never repeats the value.
 */
function signingKey(variable: string, raw: string): string {
  const pem = raw.replace(/\\n/g, '\n')
  try {
    const key = createPrivateKey({ key: pem, format: 'pem' })
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return pem
  } catch {
    // reported below, without the value
  }
  throw new ConfigError(variable, 'expected a P-256 (ES256) private key in PEM, as Apple gives it (.p8)')
}

function parseIssuer(
  variable: string,
  raw: string,
  production: boolean,
): { url: string; insecureLoopback: boolean } {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(variable, `expected an https URL, got "${raw}"`)
  }
  if (parsed.search || parsed.hash || parsed.username || parsed.password) {
    throw new ConfigError(variable, 'must have no query, fragment or user name')
  }
  if (parsed.protocol === 'https:') return { url: raw, insecureLoopback: false }
  // plain http only for a provider on this machine, in development and tests
  if (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname) && !production) {
    return { url: raw, insecureLoopback: true }
  }
  throw new ConfigError(
    variable,
    production
      ? 'must be an https URL in production'
      : 'must be an https URL (plain http only on a loopback address, outside production)',
  )
}
