import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../../flows/deps.js'
import { responses } from '../schemas.js'

export interface DiscoveryDeps extends Pick<FlowDeps, 'keyRing' | 'config'> {
  /** Resolves when the database answers. */
  ping(): Promise<void>
}

const READY_TIMEOUT_MS = 2000

/** JWKS, discovery document, liveness and readiness. */
export const discoveryRoutes =
  (deps: DiscoveryDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { publicUrl } = deps.config

    app.get(
      '/.well-known/jwks.json',
      {
        schema: {
          tags: ['discovery'],
          summary: 'Public keys that may verify a live access token',
          response: {
            200: Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) }),
          },
        },
      },
      async (_request, reply) =>
        // short cache: a verifier that meets an unknown kid re-fetches anyway
        reply.header('cache-control', 'public, max-age=60').send(deps.keyRing.jwks()),
    )

    app.get(
      '/.well-known/openid-configuration',
      {
        schema: {
          tags: ['discovery'],
          summary: 'Discovery document: issuer and JWKS location',
          description:
            'Tessera is not an OAuth authorization server; the document names only what verifiers need.',
          response: {
            200: Type.Object({
              issuer: Type.String(),
              jwks_uri: Type.String(),
              service_documentation: Type.String(),
            }),
          },
        },
      },
      async (_request, reply) =>
        reply.header('cache-control', 'public, max-age=300').send({
          issuer: publicUrl,
          jwks_uri: `${publicUrl}/.well-known/jwks.json`,
          service_documentation: `${publicUrl}/docs`,
        }),
    )

    app.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Liveness: the process is up',
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    )

    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness: the database answers',
          response: responses({
            200: Type.Object({ status: Type.Literal('ok'), database: Type.Literal('up') }),
          }),
        },
      },
      async (request) => {
        let timer: NodeJS.Timeout | undefined
        try {
          await Promise.race([
            deps.ping(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('database ping timed out')), READY_TIMEOUT_MS)
            }),
          ])
        } catch (cause) {
          request.log.warn({ err: cause }, 'readiness check failed')
          throw new TesseraError('SERVICE_UNAVAILABLE', {
            cause,
            retryAfter: 5,
            detail: 'The database is not answering.',
          })
        } finally {
          clearTimeout(timer)
        }
        return { status: 'ok' as const, database: 'up' as const }
      },
    )
  }
