import type { FastifyRequest } from 'fastify'
import type { ClientContext } from '../flows/deps.js'

/** Where a request came from, for the session it opens and the audit log. `ip` honours TESSERA_TRUST_PROXY. */
export const clientContext = (request: FastifyRequest): ClientContext => ({
  userAgent: request.headers['user-agent'] ?? null,
  ip: request.ip ?? null,
})
