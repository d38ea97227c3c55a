import type { SessionAuth } from '../store/records.js'

/** `acr` after one factor. */
export const ACR_SINGLE_FACTOR = 'urn:tessera:pwd'
/** `acr` after two factors. */
export const ACR_MULTI_FACTOR = 'urn:tessera:mfa'

/**
 * The private `amr` value (RFC 8176 §6 leaves room for them) of a sign-in through a mailed magic
 * link: RFC 8176 has no value for "controls this mailbox", and it is no password (`pwd`).
 */
export const AMR_MAGIC_LINK = 'magic_link'

/**
 * The `amr` values of the factors Tessera checks: the password, a magic link (private value), and
 * a TOTP or recovery code (RFC 8176).
 */
export const FACTORS = ['pwd', AMR_MAGIC_LINK, 'otp'] as const
export type Factor = (typeof FACTORS)[number]

/**
 * The factors that make a sign-in multi-factor when they follow another. A password and a magic
 * link are never two factors together: whoever reads the mailbox can reset the password.
 */
const SECOND_FACTORS: readonly Factor[] = ['otp']

/**
 * The `amr`, `acr` and `auth_time` of a sign-in (or a step-up) at `at` with `factors`: `mfa` and
 * `urn:tessera:mfa` once a second factor joined another one. `mfa` in `factors` is ignored, so a
 * step-up passes the session's `amr` back in and adds its own factor.
 */
export function signedInWith(factors: readonly string[], at: Date): SessionAuth {
  const used = FACTORS.filter((factor) => factors.includes(factor))
  const multi =
    used.some((factor) => SECOND_FACTORS.includes(factor)) &&
    used.some((factor) => !SECOND_FACTORS.includes(factor))
  return {
    amr: multi ? [...used, 'mfa'] : used,
    acr: multi ? ACR_MULTI_FACTOR : ACR_SINGLE_FACTOR,
    authenticatedAt: at,
  }
}
