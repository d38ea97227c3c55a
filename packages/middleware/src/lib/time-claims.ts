import { TOKEN_ERROR_CODES, TokenError } from 'fast-jwt'
import { TesseraAuthError } from '../errors.js'

/** The time claims of a payload, not yet checked. Seconds since the epoch. */
export interface TimeClaims {
  readonly iat?: unknown
  readonly nbf?: unknown
  readonly exp?: unknown
}

/**
 * Seconds an `iat` may be ahead of now beyond the tolerance. After a `user` revocation event with
 * `notBefore` N (the next whole second after the change), Tessera issues that user's new tokens
 * with `iat` = max(now, N), up to a second ahead of its clock: without this second, the token a
 * client gets by refreshing right after a role change would be refused as issued in the future.
 */
export const ISSUED_AHEAD_LEEWAY = 1

const invalid = (cause: unknown) => new TesseraAuthError('TOKEN_INVALID', { cause })

/** Absent, or a number of seconds since the epoch (any number, as jose has it). */
const isTime = (value: unknown): boolean => value === undefined || typeof value === 'number'

/**
 * Checks `iat`, `nbf` and `exp` at `nowMs` (milliseconds since the epoch) with `tolerance`
 * seconds of leeway, as jose's `jwtVerify` does, and also refuses an `iat` more than
 * {@link ISSUED_AHEAD_LEEWAY} second beyond that in the future (as PyJWT does): now counts in whole seconds (rounded
 * down), a token is expired from the second of its `exp` on and active from the second of its
 * `nbf`. Throws `TOKEN_EXPIRED` for a passed `exp` (so only call it once the signature and the
 * other checks hold), `TOKEN_INVALID` for anything else, each with a fast-jwt `TokenError` as cause.
 */
export function checkTimes(claims: TimeClaims, nowMs: number, tolerance: number): void {
  const now = Math.floor(nowMs / 1000)
  if (!Number.isFinite(now)) throw invalid(new TypeError('the clock gave an invalid date'))
  const { iat, nbf, exp } = claims
  if (!isTime(iat) || !isTime(nbf) || !isTime(exp)) {
    const cause = new TokenError(
      TOKEN_ERROR_CODES.invalidClaimType,
      'The iat, nbf and exp claims must be numbers.',
    )
    throw invalid(cause)
  }
  // issued in the future: not by an issuer whose clock agrees with ours within the tolerance (plus
  // the second Tessera may date a token ahead, see ISSUED_AHEAD_LEEWAY)
  if (typeof iat === 'number' && iat > now + tolerance + ISSUED_AHEAD_LEEWAY) {
    throw invalid(new TokenError(TOKEN_ERROR_CODES.invalidClaimValue, 'The token was issued in the future.'))
  }
  if (typeof nbf === 'number' && nbf > now + tolerance) {
    throw invalid(new TokenError(TOKEN_ERROR_CODES.inactive, 'The token is not active yet.'))
  }
  if (typeof exp === 'number' && exp <= now - tolerance) {
    const cause = new TokenError(TOKEN_ERROR_CODES.expired, 'The token has expired.')
    throw new TesseraAuthError('TOKEN_EXPIRED', { cause })
  }
}
