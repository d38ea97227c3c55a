import { isLoopbackHost, secretWeakness } from './parsers.js'
import type { Draft, Field, Values } from './setting.js'

/** A rule across variables. */
export interface Rule {
  /** The variable the message is about. */
  readonly variable: string
  /**
   * What is wrong, or `undefined` when the values keep the rule, or when a field it reads is
   * missing (that variable was invalid, and its own error says so).
   */
  readonly check: (values: Draft) => string | undefined
}

/** A rule on `fields`, checked once each of them was read without error. */
function rule<const F extends Field>(
  variable: string,
  fields: readonly F[],
  check: (values: Pick<Values, F>) => string | undefined,
): Rule {
  return { variable, check: (values) => (has(values, fields) ? check(values) : undefined) }
}

function has<F extends Field>(values: Draft, fields: readonly F[]): values is Draft & Pick<Values, F> {
  return fields.every((field) => field in values)
}

export const RULES: readonly Rule[] = [
  rule('TESSERA_PUBLIC_URL', ['production', 'publicUrl'], ({ production, publicUrl }) => {
    const { protocol, hostname } = new URL(publicUrl)
    return production && protocol !== 'https:' && !isLoopbackHost(hostname)
      ? 'must be an https:// URL in production (only localhost may use http)'
      : undefined
  }),
  rule('TESSERA_SECRET', ['production', 'secret'], ({ production, secret }) =>
    production && secret === undefined
      ? 'is required in production: set it to at least 32 random characters, e.g. `openssl rand -base64 48`'
      : undefined,
  ),
  rule('TESSERA_SECRET_PREVIOUS', ['secret', 'secretPrevious'], ({ secret, secretPrevious }) => {
    if (secretPrevious === undefined) return undefined
    // the old secret without a new one: the development secret in the data dir would take over
    // silently; a rotation names its new secret
    if (secret === undefined) return 'is only used with TESSERA_SECRET (the new secret)'
    return secretPrevious === secret ? 'equals TESSERA_SECRET; set it to the secret used before' : undefined
  }),
  rule('TESSERA_HS256_SECRET', ['signingAlg', 'hs256Secret'], ({ signingAlg, hs256Secret }) => {
    // checked here rather than by its parser: without HS256, what matters is that it goes
    if (signingAlg !== 'HS256') {
      return hs256Secret === undefined ? undefined : 'is only used with TESSERA_SIGNING_ALG=HS256; unset it'
    }
    return hs256Secret === undefined
      ? 'is required when TESSERA_SIGNING_ALG=HS256'
      : secretWeakness(hs256Secret)
  }),
  rule(
    'TESSERA_REFRESH_IDLE_TTL',
    ['refreshIdleTtl', 'sessionMaxAge'],
    ({ refreshIdleTtl, sessionMaxAge }) =>
      refreshIdleTtl > sessionMaxAge ? 'must not exceed TESSERA_SESSION_MAX_AGE' : undefined,
  ),
  rule(
    'TESSERA_PASSWORD_MIN_LENGTH',
    ['passwordMinLength', 'passwordMaxLength'],
    ({ passwordMinLength, passwordMaxLength }) =>
      passwordMinLength > passwordMaxLength ? 'must not exceed TESSERA_PASSWORD_MAX_LENGTH' : undefined,
  ),
  // Node refuses a headers timeout past the request timeout
  rule(
    'TESSERA_HEADERS_TIMEOUT',
    ['headersTimeout', 'requestTimeout'],
    ({ headersTimeout, requestTimeout }) =>
      headersTimeout > requestTimeout ? 'expected at most TESSERA_REQUEST_TIMEOUT' : undefined,
  ),
  // WebAuthn: a page may use an RP id that is its own host or a parent domain of it, nothing else
  rule(
    'TESSERA_WEBAUTHN_ORIGINS',
    ['webauthnOrigins', 'webauthnRpId'],
    ({ webauthnOrigins, webauthnRpId }) => {
      const outside = webauthnOrigins.filter((origin) => {
        const host = new URL(origin).hostname
        return host !== webauthnRpId && !host.endsWith(`.${webauthnRpId}`)
      })
      return outside.length === 0
        ? undefined
        : `${outside.join(', ')} is not on TESSERA_WEBAUTHN_RP_ID (${webauthnRpId}) or a subdomain of it`
    },
  ),
  rule('TESSERA_WEBHOOK_SECRET', ['webhookUrl', 'webhookSecret'], ({ webhookUrl, webhookSecret }) => {
    if (webhookUrl !== undefined && webhookSecret === undefined) {
      return 'is required when TESSERA_WEBHOOK_URL is set: `echo whsec_$(openssl rand -base64 32)`'
    }
    return webhookUrl === undefined && webhookSecret !== undefined
      ? 'is only used with TESSERA_WEBHOOK_URL; unset it'
      : undefined
  }),
]
