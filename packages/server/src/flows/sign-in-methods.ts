import type { SessionAuth } from '../store/records.js'

/** `acr` after one factor. */
export const ACR_SINGLE_FACTOR = 'urn:tessera:pwd'
/** `acr` after two factors, or a passkey that verified the user. */
export const ACR_MULTI_FACTOR = 'urn:tessera:mfa'

/**
/**
 * The private `amr` value (RFC 8176 §6 leaves room for them) of a sign-in through a mailed magic
 * link: RFC 8176 has no value for "controls this mailbox", and it is no password (`pwd`).
 */
export const AMR_MAGIC_LINK = 'magic_link'

/**
 * The private `amr` value of a sign-in at an OpenID provider ("federated"): RFC 8176 has no value
 * for it, and what the provider checked (a password, a passkey) is its own business.
 */
export const AMR_PROVIDER = 'fed'

/**
 * The `amr` values of the factors Tessera checks: the password, a magic link (private value), a
 * TOTP or recovery code, and a passkey (`hwk` bound to one device, `swk` backup eligible, i.e.
 * synced) (RFC 8176).
 */
export const FACTORS = ['pwd', AMR_MAGIC_LINK, AMR_PROVIDER, 'otp', 'hwk', 'swk'] as const
export type Factor = (typeof FACTORS)[number]

/** RFC 8176's `user`: the authenticator verified the user (a PIN or biometric) along with a passkey. */
export const USER_VERIFIED = 'user'

const PASSKEY_FACTORS: readonly string[] = ['hwk', 'swk']

/**
/**
 * The kind of proof a factor is, for counting distinct factors. A password, a magic link and a
 * provider are one kind: whoever reads the mailbox can reset the password, and a provider's account
 * is recovered by mail too, so together they are no two factors.
 */
const kindOf = (factor: Factor): string =>
  factor === AMR_MAGIC_LINK || factor === AMR_PROVIDER ? 'pwd' : factor

/**
 * The `amr`, `acr` and `auth_time` of a sign-in (or a step-up) at `at` with `methods`: `mfa` and
 * `urn:tessera:mfa` once two distinct kinds of factor were used, or a passkey verified its user
 * (the device, and the PIN or biometric that unlocked it). `mfa` in `methods` is ignored, so a
 * step-up passes the session's `amr` back in and adds its own.
 */
export function signedInWith(methods: readonly string[], at: Date): SessionAuth {
  const used = FACTORS.filter((factor) => methods.includes(factor))
  const userVerified =
    methods.includes(USER_VERIFIED) && used.some((factor) => PASSKEY_FACTORS.includes(factor))
  const multi = new Set(used.map(kindOf)).size >= 2 || userVerified
  const amr: string[] = userVerified ? [...used, USER_VERIFIED] : [...used]
  return {
    amr: multi ? [...amr, 'mfa'] : amr,
    acr: multi ? ACR_MULTI_FACTOR : ACR_SINGLE_FACTOR,
    authenticatedAt: at,
  }
}
