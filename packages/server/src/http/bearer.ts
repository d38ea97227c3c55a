import type { FastifyInstance, FastifyRequest } from 'fastify'
import { TesseraError } from '../errors.js'
import { type Authenticated, authenticate } from '../flows/authenticate.js'
import type { FlowDeps } from '../flows/deps.js'

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

/**
 * Makes every route of the plugin `app` need an access token (checked in an onRequest hook, before
 * the body is read) and answers the accessor of what it authenticated.
 */
export function requireBearer(
  app: FastifyInstance,
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'clock' | 'config'>,
): (request: FastifyRequest) => Authenticated {
  app.decorateRequest('authenticated', undefined)
  app.addHook('onRequest', async (request) => {
    request.authenticated = await authenticate(deps, bearerToken(request))
  })
  return (request) => {
    if (!request.authenticated)
      throw new TesseraError('INTERNAL', { reason: 'authentication hook did not run' })
    return request.authenticated
  }
}
