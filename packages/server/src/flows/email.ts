export interface NormalizedEmail {
  /** As typed: trimmed and NFC-normalised, case kept for display and mail. */
  email: string
  /** The unique key: additionally lower-cased. */
  normalized: string
}

/** Two spellings of one address (case, Unicode composition, surrounding spaces) map to one account. */
export function normalizeEmail(raw: string): NormalizedEmail {
  const email = raw.trim().normalize('NFC')
  return { email, normalized: email.toLowerCase() }
}

// RFC 6531 addresses (Unicode allowed), without the quoted and bracketed forms no one types
const LOCAL_PART = /^[^\s@"(),:;<>[\\\]\p{Cc}]{1,64}$/u
const DOMAIN =
  /^(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+(?:[\p{L}]{2,63}|xn--[a-z0-9-]{1,59})$/iu

/** The one email rule, for the HTTP schema's `email` format and the CLI alike. Checks the normalised form. */
export function isEmail(raw: string): boolean {
  const { email } = normalizeEmail(raw)
  if (email.length > 254) return false
  const at = email.lastIndexOf('@')
  if (at <= 0) return false
  const local = email.slice(0, at)
  if (!LOCAL_PART.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..'))
    return false
  return DOMAIN.test(email.slice(at + 1))
}
