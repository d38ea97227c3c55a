import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Config } from '../../config.js'
import { TesseraError } from '../../errors.js'
import type { Metrics } from '../../metrics.js'
import { bearerToken } from '../bearer.js'

export interface MetricsRouteDeps {
  config: Pick<Config, 'metricsToken'>
  metrics: Pick<Metrics, 'scrape' | 'contentType'>
}

// equal-length digests: timingSafeEqual then tells nothing about the token, not even its length
const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/** `GET /metrics` for Prometheus, behind TESSERA_METRICS_TOKEN; without a token it does not exist. */
export const metricsRoutes =
  (deps: MetricsRouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const expected = deps.config.metricsToken === undefined ? undefined : digest(deps.config.metricsToken)

    app.get(
      '/metrics',
      {
        schema: {
          // listed in the OpenAPI document only where it answers
          hide: expected === undefined,
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format)',
          description:
            'Needs `Authorization: Bearer $TESSERA_METRICS_TOKEN`. 404 NOT_FOUND when no metrics token ' +
            'is configured; 401 TOKEN_MISSING or TOKEN_INVALID for a missing or wrong token.',
          security: [{ bearerAuth: [] }],
        },
      },
      async (request, reply) => {
        // no token configured: answered like any unknown path, so the endpoint is not even revealed
        if (expected === undefined) throw new TesseraError('NOT_FOUND')
        // TOKEN_MISSING / TOKEN_INVALID with a WWW-Authenticate challenge, as on every Bearer route
        const presented = bearerToken(request)
        if (!timingSafeEqual(digest(presented), expected)) {
          throw new TesseraError('TOKEN_INVALID', { detail: 'The metrics token is not valid.' })
        }
        const text = await deps.metrics.scrape()
        return reply.header('cache-control', 'no-store').type(deps.metrics.contentType).send(text)
      },
    )
  }
