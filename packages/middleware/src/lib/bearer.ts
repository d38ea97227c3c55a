import { TesseraAuthError } from '../errors.js'

const SCHEME = /^bearer(\s|$)/i
const SPACE = 0x20

/**
 * The token of an `Authorization: Bearer <token>` header value; the scheme is case-insensitive
 * (RFC 9110 §11.1), then one or more spaces (RFC 6750 §2.1), trailing spaces tolerated.
 * `undefined` when no bearer credential was sent (no header, or another scheme such as Basic); a
 * `Bearer` header without a token throws `TOKEN_INVALID`.
 *
 * The token's characters are not scanned here: a regex over an 800-character RS256 token cost
 * about 1 µs, as much as the rest of a cache hit. A remembered token is compared in full, and any
 * other goes through the JWS parser, which refuses every character outside base64url, so a
 * malformed token is still a `TOKEN_INVALID`.
 */
export function bearerToken(
  header: string | string[] | undefined,
  rawHeaders?: readonly string[],
): string | undefined {
  if (typeof header !== 'string' || !SCHEME.test(header)) return undefined
  // Node keeps the first of two Authorization headers and drops the other; which credential a
  // proxy or another framework would pick is anyone's guess, so two are refused (RFC 6750 §2)
  if (rawHeaders !== undefined && authorizationHeaders(rawHeaders) > 1) {
    throw new TesseraAuthError('TOKEN_INVALID')
  }
  const schemeEnd = 'bearer'.length
  let start = schemeEnd
  while (header.charCodeAt(start) === SPACE) start++
  let end = header.length
  while (end > start && header.charCodeAt(end - 1) === SPACE) end--
  if (start === schemeEnd || start === end) throw new TesseraAuthError('TOKEN_INVALID')
  return header.slice(start, end)
}

/** How many Authorization headers the request had (`rawHeaders` is name, value, name, value, …). */
function authorizationHeaders(rawHeaders: readonly string[]): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]
    if (name?.length === 13 && name.toLowerCase() === 'authorization') count++
  }
  return count
}
