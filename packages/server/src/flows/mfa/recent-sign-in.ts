import { epochSeconds } from '../../clock.js'
import { TesseraError } from '../../errors.js'
import type { VerifiedAccessTokenClaims } from '../../tokens/access-token.js'

/** Seconds a sign-in (or step-up) counts as recent for enrolling and removing factors. */
export const RECENT_SIGN_IN_SECONDS = 300

/**
 * "Bearer, recent": the token's `auth_time` is at most {@link RECENT_SIGN_IN_SECONDS} old, else
 * STEP_UP_REQUIRED with RFC 9470's `max_age`. A token without `auth_time` (issued before Tessera
 * put it in) is never recent.
 */
export function requireRecentSignIn(claims: Pick<VerifiedAccessTokenClaims, 'auth_time'>, now: Date): void {
  const authTime = claims.auth_time
  if (authTime !== undefined && epochSeconds(now) - authTime <= RECENT_SIGN_IN_SECONDS) return
  throw new TesseraError('STEP_UP_REQUIRED', {
    detail: 'This needs a sign-in within the last 5 minutes: step up first.',
    stepUp: { maxAge: RECENT_SIGN_IN_SECONDS },
  })
}
