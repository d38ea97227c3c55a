import { domainToASCII } from 'node:url'

export interface NormalizedEmail {
  /** As typed: trimmed and NFC-normalised, case kept for display and mail. */
  email: string
  /** The uniqueness key of the mailbox: see {@link mailboxKey}. */
  normalized: string
}

/** Two spellings of one mailbox map to one account; what the user typed is kept for display. */
export function normalizeEmail(raw: string): NormalizedEmail {
  const email = raw.trim().normalize('NFC')
  return { email, normalized: mailboxKey(email) }
}

/**
 * The key two spellings of one mailbox share, as mail systems and browsers see an address: the
 * domain mapped by UTS #46 (IDNA: case, fullwidth and compatibility forms, to its ASCII `xn--`
 * form), the local part NFKC-normalised and case-folded. So `ａｄａ@ＥＸＡＭＰＬＥ.com`,
 * `𝐚da@example.com` and `Ada@Example.com` are one account.
 */
export function mailboxKey(email: string): string {
  const at = email.lastIndexOf('@')
  const local = foldCase(email.slice(0, at).normalize('NFKC'))
  const domain = email.slice(at + 1)
  // WHATWG's domainToASCII is UTS #46 processing; '' for a domain IDNA refuses, which then keys
  // by the same folding as the local part rather than failing the request
  const ascii = domainToASCII(domain)
  return `${local}@${ascii === '' ? foldCase(domain.normalize('NFKC')) : ascii}`
}

/**
 * Unicode full case folding as far as JavaScript offers it: upper then lower case maps `ß` to `ss`
 * and `ς` to `σ`, as CaseFolding.txt does; NFKC again, since folding can undo a composition.
 */
function foldCase(text: string): string {
  return text.toUpperCase().toLowerCase().normalize('NFKC')
}

// RFC 6531 addresses (Unicode allowed), without the quoted and bracketed forms no one types: local
// part atoms joined by single dots, at most 64 characters; domain labels of letters, digits, marks
// and inner hyphens; a top-level label of letters (or an A-label). Surrounding spaces are trimmed.
const ATOM = String.raw`[^\s@"(),:;<>[\\\].\p{Cc}]`
const LABEL = String.raw`[\p{L}\p{N}\p{M}](?:[\p{L}\p{N}\p{M}-]{0,61}[\p{L}\p{N}\p{M}])?`
const TOP_LABEL = String.raw`(?:\p{L}[\p{L}\p{M}]{1,62}|[xX][nN]--[a-zA-Z0-9-]{1,59})`

/**
 * The one email rule, as a JSON Schema pattern (ECMA-262, Unicode mode): the HTTP schemas and the
 * OpenAPI document carry it, so what the document calls valid is what the server takes.
 */
export const EMAIL_PATTERN = String.raw`^\s*(?=[^@]{1,64}@)${ATOM}+(?:\.${ATOM}+)*@(?:${LABEL}\.)+${TOP_LABEL}\s*$`
const EMAIL = new RegExp(EMAIL_PATTERN, 'u')

/** The email rule for the CLI and anything else outside an HTTP schema. */
export function isEmail(raw: string): boolean {
  return raw.length <= 254 && raw.isWellFormed() && EMAIL.test(raw)
}
