import type { SessionAuth } from '../store/records.js'

/** `acr` after one factor. */
export const ACR_SINGLE_FACTOR = 'urn:tessera:pwd'
/** `acr` after two factors, or a passkey that verified the user. */
export const ACR_MULTI_FACTOR = 'urn:tessera:mfa'

/**
 * RFC 8176 values of the factors Tessera checks: the password, a TOTP or recovery code, and a
 * passkey (`hwk` bound to one device, `swk` backup eligible, i.e. synced).
 */
export const FACTORS = ['pwd', 'otp', 'hwk', 'swk'] as const
export type Factor = (typeof FACTORS)[number]

/** RFC 8176's `user`: the authenticator verified the user (a PIN or biometric) along with a passkey. */
export const USER_VERIFIED = 'user'

const PASSKEY_FACTORS: readonly string[] = ['hwk', 'swk']

/**
 * The `amr`, `acr` and `auth_time` of a sign-in (or a step-up) at `at` with `methods`: `mfa` and
 * `urn:tessera:mfa` once two distinct factors were used, or a passkey verified its user (the
 * device, and the PIN or biometric that unlocked it). `mfa` in `methods` is ignored, so a step-up
 * passes the session's `amr` back in and adds its own.
 */
export function signedInWith(methods: readonly string[], at: Date): SessionAuth {
  const used = FACTORS.filter((factor) => methods.includes(factor))
  const userVerified =
    methods.includes(USER_VERIFIED) && used.some((factor) => PASSKEY_FACTORS.includes(factor))
  const multi = used.length >= 2 || userVerified
  const amr: string[] = userVerified ? [...used, USER_VERIFIED] : [...used]
  return {
    amr: multi ? [...amr, 'mfa'] : amr,
    acr: multi ? ACR_MULTI_FACTOR : ACR_SINGLE_FACTOR,
    authenticatedAt: at,
  }
}
