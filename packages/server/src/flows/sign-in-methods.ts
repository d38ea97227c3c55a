import type { SessionAuth } from '../store/records.js'

/** `acr` after one factor. */
export const ACR_SINGLE_FACTOR = 'urn:tessera:pwd'
/** `acr` after two factors. */
export const ACR_MULTI_FACTOR = 'urn:tessera:mfa'

/** RFC 8176 values of the factors Tessera checks: the password, and a TOTP or recovery code. */
export const FACTORS = ['pwd', 'otp'] as const
export type Factor = (typeof FACTORS)[number]

/**
 * The `amr`, `acr` and `auth_time` of a sign-in (or a step-up) at `at` with `factors`: `mfa` and
 * `urn:tessera:mfa` once two distinct factors were used. `mfa` in `factors` is ignored, so a
 * step-up passes the session's `amr` back in and adds its own factor.
 */
export function signedInWith(factors: readonly string[], at: Date): SessionAuth {
  const used = FACTORS.filter((factor) => factors.includes(factor))
  const multi = used.length >= 2
  return {
    amr: multi ? [...used, 'mfa'] : used,
    acr: multi ? ACR_MULTI_FACTOR : ACR_SINGLE_FACTOR,
    authenticatedAt: at,
  }
}
