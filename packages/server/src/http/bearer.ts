import type { FastifyRequest } from 'fastify'
import { TesseraError } from '../errors.js'

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110). */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization
  // no header, or another scheme (Basic, …): no bearer token was sent
  if (header === undefined || !/^bearer(\s|$)/i.test(header)) throw new TesseraError('TOKEN_MISSING')
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)
  if (!match?.[1]) throw new TesseraError('TOKEN_INVALID')
  return match[1]
}
