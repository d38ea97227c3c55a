import type { AccessClaims } from '../claims.js'
import { TesseraAuthError } from '../errors.js'
import type { AuthorizeRule, Clock } from './authorize-options.js'
import { hasAnyRole } from './roles.js'

/** The `acr` Tessera gives a sign-in with two factors (or a user-verified passkey). */
export const MFA_ACR = 'urn:tessera:mfa'

/** Whether the token says a second factor was used: `acr` is {@link MFA_ACR} or `amr` holds `mfa`. */
export const usedMfa = (claims: AccessClaims): boolean =>
  claims.acr === MFA_ACR || (claims.amr?.includes('mfa') ?? false)

/** Whether the sign-in behind the token (`auth_time`) was at most `maxAge` seconds before `nowMs`. */
function signedInWithin(claims: AccessClaims, maxAge: number, nowMs: number): boolean {
  const now = Math.floor(nowMs / 1000)
  return claims.auth_time !== undefined && Number.isFinite(now) && now - claims.auth_time <= maxAge
}

/**
 * Why `claims` do not satisfy `rule`, or `undefined` when they do. The roles come first: stepping
 * up cannot give a missing role, so a user without it gets 403 rather than a useless prompt. A
 * step-up error names every requirement of the route (RFC 9470 `acr_values`, `max_age`), since
 * the new token must meet them all.
 */
export function authorizationError(
  claims: AccessClaims,
  rule: AuthorizeRule,
  clock: Clock | undefined,
): TesseraAuthError | undefined {
  if (rule.roles !== undefined && !hasAnyRole(claims, rule.roles)) return new TesseraAuthError('FORBIDDEN')
  const mfaMissing = rule.mfa && !usedMfa(claims)
  const nowMs = () => (clock ? clock.now().getTime() : Date.now())
  const tooOld = rule.maxAge !== undefined && !signedInWithin(claims, rule.maxAge, nowMs())
  if (!mfaMissing && !tooOld) return undefined
  return new TesseraAuthError('STEP_UP_REQUIRED', {
    stepUp: {
      ...(rule.mfa ? { acrValues: [MFA_ACR] } : {}),
      ...(rule.maxAge === undefined ? {} : { maxAge: rule.maxAge }),
    },
  })
}
