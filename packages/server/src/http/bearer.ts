import type { FastifyRequest } from 'fastify'
import { TesseraError } from '../errors.js'

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110). */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization
  // no header, or another scheme (Basic, …): no bearer token was sent
  if (header === undefined || !/^bearer(\s|$)/i.test(header)) throw new TesseraError('TOKEN_MISSING')
  // Node keeps the first of two Authorization headers and drops the other: refused rather than
  // guessed at, since a proxy in front may have read the other one
  const raw = request.raw.rawHeaders
  let count = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'authorization') count++
  if (count > 1) throw new TesseraError('TOKEN_INVALID', { detail: 'Send one Authorization header.' })
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)
  if (!match?.[1]) throw new TesseraError('TOKEN_INVALID')
  return match[1]
}
