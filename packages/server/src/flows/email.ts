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
