import { AUTH_ERRORS, type StepUpChallenge, type TesseraAuthError } from '../errors.js'

/** A response to send for an auth failure, framework-neutral. */
export interface Problem {
  status: number
  headers: Record<string, string>
  body: string
}

/** The default `realm` of the `WWW-Authenticate` challenge. */
export const DEFAULT_REALM = 'tessera'

/** Checks a realm once at setup: it goes inside a quoted string of a response header. */
export function checkRealm(realm: unknown): string {
  if (realm === undefined) return DEFAULT_REALM
  if (typeof realm !== 'string' || realm === '' || !/^[\x20-\x7e]+$/.test(realm) || /["\\]/.test(realm)) {
    throw new TypeError('@tessera/middleware: realm must be printable ASCII without quotes or backslashes')
  }
  return realm
}

/**
 * The RFC 9457 problem+json answer for an auth error, as Tessera's API.md specifies it, with the
 * RFC 6750 Bearer challenge: on a 401 (`error="invalid_token"` when a token was sent but refused),
 * and on a 403 for a missing scope (`error="insufficient_scope"` with the required `scope`, §3.1);
 * a `STEP_UP_REQUIRED` 401 carries RFC 9470's `insufficient_user_authentication` instead.
 * A 403 for a missing role has no challenge (no scope would help), nor has a 503, which says the
 * service, not the token, is at fault; it carries `Retry-After`. The detail never says which
 * check failed.
 */
/** The `error_description` of a step-up challenge: printable ASCII, no quote or backslash. */
function stepUpDescription(stepUp: StepUpChallenge | undefined): string {
  const mfa = stepUp?.acrValues !== undefined
  const recent = stepUp?.maxAge !== undefined
  if (mfa && recent) return 'A recent sign-in with a second factor is required'
  if (mfa) return 'A second factor is required'
  return 'A more recent sign-in is required'
}

/**
 * The RFC 9470 §3 challenge: `insufficient_user_authentication` with the route's `acr_values`
 * (space-separated, here only `urn:tessera:mfa`) and `max_age` (seconds). Both are set by
 * `authorize` from checked options, so they hold no quote or backslash.
 */
function stepUpChallenge(realm: string, stepUp: StepUpChallenge | undefined): string {
  let challenge = `Bearer realm="${realm}", error="insufficient_user_authentication", error_description="${stepUpDescription(stepUp)}"`
  if (stepUp?.acrValues !== undefined) challenge += `, acr_values="${stepUp.acrValues.join(' ')}"`
  if (stepUp?.maxAge !== undefined) challenge += `, max_age="${stepUp.maxAge}"`
  return challenge
}

export function toProblem(error: TesseraAuthError, realm: string): Problem {
  const { status, title, detail } = AUTH_ERRORS[error.code]
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' }
  if (error.code === 'TOKEN_MISSING') headers['www-authenticate'] = `Bearer realm="${realm}"`
  else if (error.code === 'STEP_UP_REQUIRED')
    headers['www-authenticate'] = stepUpChallenge(realm, error.stepUp)
  else if (status === 401) headers['www-authenticate'] = `Bearer realm="${realm}", error="invalid_token"`
  else if (error.code === 'FORBIDDEN' && error.requiredScopes !== undefined) {
    // scope tokens hold no quote, backslash or space (RFC 6749 §3.3; checked by requireScope)
    headers['www-authenticate'] =
      `Bearer realm="${realm}", error="insufficient_scope", scope="${error.requiredScopes.join(' ')}"`
  } else if (error.code === 'SERVICE_UNAVAILABLE') headers['retry-after'] = String(error.retryAfter ?? 1)
  const body = JSON.stringify({ type: 'about:blank', title, status, code: error.code, detail })
  return { status, headers, body }
}
