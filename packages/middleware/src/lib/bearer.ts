import { TesseraAuthError } from '../errors.js'

/**
 * The token of an `Authorization: Bearer <token>` header value; the scheme is case-insensitive
 * (RFC 9110 §11.1). `undefined` when no bearer credential was sent (no header, or another scheme
 * such as Basic); a `Bearer` header with a malformed token throws `TOKEN_INVALID`.
 */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || !/^bearer(\s|$)/i.test(header)) return undefined
  // RFC 6750 §2.1 b64token
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)
  if (!match?.[1]) throw new TesseraAuthError('TOKEN_INVALID')
  return match[1]
}
