import { ConfigError, type ConfigProblem } from './config-error.js'
import { isLoopbackHost } from './parsers.js'

/** How Tessera authenticates at a provider's token endpoint (RFC 6749 §2.3.1 requires basic of every server). */
export const TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const
export type TokenAuthMethod = (typeof TOKEN_AUTH_METHODS)[number]

/** Which claim says that the provider checked the email: `email_verified`, or Microsoft's `xms_edov`. */
export const EMAIL_VERIFIED_CLAIMS = ['email_verified', 'xms_edov'] as const
export type EmailVerifiedClaim = (typeof EMAIL_VERIFIED_CLAIMS)[number]

/** One OpenID Connect provider users may sign in with (`TESSERA_OAUTH_<ID>_*`). */
export interface OAuthProviderConfig {
  /** The id in TESSERA_OAUTH_PROVIDERS and in the paths (`/auth/oauth/<id>/start`). */
  readonly id: string
  /** What a sign-in button says (`_NAME`; the preset's, else the id). */
  readonly name: string
  /** The issuer whose `/.well-known/openid-configuration` is discovered (`_ISSUER`, or the preset's). */
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  /** Space-separated scopes asked for (`_SCOPE`); always with `openid`. */
  readonly scope: string
  readonly tokenAuth: TokenAuthMethod
  readonly emailVerifiedClaim: EmailVerifiedClaim
  /** A plain-http loopback issuer (only outside production): openid-client must be told to allow it. */
  readonly insecureLoopback: boolean
}

interface Preset {
  readonly name: string
  /** Absent where the issuer names the operator's own tenant or instance: `_ISSUER` is then required. */
  readonly issuer?: string
  readonly tokenAuth: TokenAuthMethod
  readonly emailVerifiedClaim: EmailVerifiedClaim
}

/** The OpenID Connect providers known by id: their issuer and what they need. */
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
}

/** Ids reserved for presets this version does not have yet: refused rather than read as plain OpenID. */
const NOT_YET: Readonly<Record<string, string>> = {
  github: 'GitHub is OAuth 2 without OpenID Connect, which this version does not support yet',
  apple: "Apple's signed client secret and form_post answer are not supported yet",
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
    const reason = NOT_YET[id]
    if (reason !== undefined) throw new ConfigError(variable, `"${id}": ${reason}`)
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
  const preset = PRESETS[id]
  const issuerVariable = `${prefix}ISSUER`
  const rawIssuer =
    value('ISSUER') ??
    preset?.issuer ??
    required('ISSUER', 'is required: the OpenID issuer, whose /.well-known/openid-configuration is read')
  const { issuer, insecureLoopback } = parseIssuer(issuerVariable, rawIssuer, production)
  const tokenAuth = value('TOKEN_AUTH') ?? preset?.tokenAuth ?? 'client_secret_basic'
  if (!(TOKEN_AUTH_METHODS as readonly string[]).includes(tokenAuth)) {
    throw new ConfigError(
      `${prefix}TOKEN_AUTH`,
      `expected one of ${TOKEN_AUTH_METHODS.join(', ')}, got "${tokenAuth}"`,
    )
  }
  const scopes = (value('SCOPE') ?? 'openid email profile').split(/\s+/)
  return Object.freeze({
    id,
    name: value('NAME') ?? preset?.name ?? id,
    issuer,
    clientId: required('CLIENT_ID'),
    clientSecret: required('CLIENT_SECRET'),
    // an ID token, and so the nonce and the subject, come only with `openid`
    scope: (scopes.includes('openid') ? scopes : ['openid', ...scopes]).join(' '),
    tokenAuth: tokenAuth as TokenAuthMethod,
    emailVerifiedClaim: preset?.emailVerifiedClaim ?? 'email_verified',
    insecureLoopback,
  })
}

function parseIssuer(
  variable: string,
  raw: string,
  production: boolean,
): { issuer: string; insecureLoopback: boolean } {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(variable, `expected an https URL, got "${raw}"`)
  }
  if (parsed.search || parsed.hash || parsed.username || parsed.password) {
    throw new ConfigError(variable, 'must have no query, fragment or user name')
  }
  if (parsed.protocol === 'https:') return { issuer: raw, insecureLoopback: false }
  // plain http only for a provider on this machine, in development and tests
  if (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname) && !production) {
    return { issuer: raw, insecureLoopback: true }
  }
  throw new ConfigError(
    variable,
    production
      ? 'must be an https URL in production'
      : 'must be an https URL (plain http only on a loopback address, outside production)',
  )
}
