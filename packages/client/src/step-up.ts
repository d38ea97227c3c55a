/**
 * What an API asks for when it answers 401 `STEP_UP_REQUIRED` (RFC 9470), read from its
 * `WWW-Authenticate: Bearer error="insufficient_user_authentication", acr_values=…, max_age=…`.
 */
export interface StepUpChallenge {
  /**
   * The authentication context classes the API accepts, e.g. `['urn:tessera:mfa']`: step up with a
   * second factor (`{ code }` or `{ recoveryCode }`), a password will not do. Empty when the
   * challenge names none.
   */
  acrValues: string[]
  /** Seconds: the sign-in must be at most this old; any proof, the password too, renews it. */
  maxAge?: number
  /** The challenge's `error_description`, for logs. */
  description?: string
}

// auth-param = token BWS "=" BWS ( token / quoted-string ) (RFC 9110 §11.2)
const AUTH_PARAM =
  /([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([!#$%&'*+.^_`|~0-9A-Za-z-]+))/g

/** The auth-params of a `WWW-Authenticate` header, first occurrence of each name, lower-cased names. */
function authParams(header: string): Map<string, string> {
  const params = new Map<string, string>()
  for (const match of header.matchAll(AUTH_PARAM)) {
    const name = (match[1] ?? '').toLowerCase()
    const value = match[2] === undefined ? (match[3] ?? '') : match[2].replace(/\\(.)/g, '$1')
    if (!params.has(name)) params.set(name, value)
  }
  return params
}

/** Whether a `WWW-Authenticate` header is RFC 9470's `insufficient_user_authentication` challenge. */
export const isStepUpHeader = (header: string | null): boolean =>
  header !== null && authParams(header).get('error') === 'insufficient_user_authentication'

/** The step-up challenge of a `WWW-Authenticate` header; empty `acrValues` when it has none. */
export function parseStepUp(header: string | null): StepUpChallenge {
  const params = header === null ? new Map<string, string>() : authParams(header)
  const acr = params.get('acr_values')?.trim()
  const maxAge = params.get('max_age')?.trim()
  const description = params.get('error_description')
  const challenge: StepUpChallenge = { acrValues: acr ? acr.split(/\s+/) : [] }
  if (maxAge !== undefined && /^\d+$/.test(maxAge)) challenge.maxAge = Number(maxAge)
  if (description !== undefined) challenge.description = description
  return challenge
}
