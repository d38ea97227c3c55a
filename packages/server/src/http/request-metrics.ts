import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../metrics.js'

/**
 * Counts and times every answer by route pattern (`/auth/sessions/:id`), never by raw URL: ids and
 * query strings would make a new time series per request. Requests no route matched are `unmatched`.
 */
export function observeRequests(app: FastifyInstance, metrics: Pick<Metrics, 'httpRequest'>): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: reply.statusCode },
      reply.elapsedTime / 1000,
    )
  })
}
