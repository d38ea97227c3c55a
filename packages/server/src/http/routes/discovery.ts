import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../../flows/deps.js'
import type { RedisHandle } from '../../redis.js'
import { within } from '../../within.js'
import { responses } from '../schemas.js'

export interface DiscoveryDeps extends Pick<FlowDeps, 'keyRing' | 'config'> {
  /** Resolves when the database answers. */
  ping(): Promise<void>
  /** The shared Redis connection, when REDIS_URL is set; readiness reports it. */
  redis?: RedisHandle | undefined
}

/** How a service client authenticates at /oauth/* (RFC 6749 §2.3.1). */
const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']

/** Seconds a load balancer should wait before asking again after a 503. */
const READY_RETRY_AFTER = 5
/** Milliseconds a Redis PING may take before Redis counts as down. */
const REDIS_PING_TIMEOUT_MS = 1000

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
          summary: 'Discovery document: issuer, JWKS, and the endpoints services use',
          description:
            'Tessera signs users in through its own API, not the OAuth authorization flows; the ' +
            'document names what verifiers and services need: keys, the client-credentials token ' +
            'endpoint, introspection and the revocation feed.',
          response: {
            200: Type.Object({
              issuer: Type.String(),
              jwks_uri: Type.String(),
              service_documentation: Type.String(),
              token_endpoint: Type.String(),
              introspection_endpoint: Type.String(),
              grant_types_supported: Type.Array(Type.String()),
              token_endpoint_auth_methods_supported: Type.Array(Type.String()),
              introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
              tessera_revocation_events_endpoint: Type.String(),
            }),
          },
        },
      },
      async (_request, reply) =>
        reply.header('cache-control', 'public, max-age=300').send({
          issuer: publicUrl,
          jwks_uri: `${publicUrl}/.well-known/jwks.json`,
          service_documentation: `${publicUrl}/docs`,
          token_endpoint: `${publicUrl}/oauth/token`,
          introspection_endpoint: `${publicUrl}/oauth/introspect`,
          grant_types_supported: ['client_credentials'],
          token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
          introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
          tessera_revocation_events_endpoint: `${publicUrl}/auth/revocations`,
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

    // Redis down is a degraded server, not an unready one: rate limits fall back to process memory.
    // Probes come every few seconds, so only a change is logged.
    let redisWasDown = false
    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness: the database answers (and Redis, when configured)',
          description:
            'Without the database: 503 SERVICE_UNAVAILABLE with Retry-After. Redis configured but down: ' +
            '200 `degraded`, since the server keeps serving with per-process rate limits.',
          response: responses({
            200: Type.Object({
              status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
              database: Type.Literal('up'),
              redis: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down')])),
            }),
          }),
        },
      },
      async (request) => {
        const { redis } = deps
        const [database, redisUp] = await Promise.all([
          within(deps.ping(), deps.config.databaseTimeout * 1000, 'database ping timed out').then(
            () => undefined,
            (error: unknown) => error,
          ),
          redis?.ping(REDIS_PING_TIMEOUT_MS).then(
            () => true,
            () => false,
          ),
        ])
        if (redisUp !== undefined) {
          if (!redisUp && !redisWasDown) {
            request.log.warn('readiness: redis unreachable; rate limits fall back to process memory')
          } else if (redisUp && redisWasDown) request.log.info('readiness: redis answers again')
          redisWasDown = !redisUp
        }
        if (database !== undefined) {
          request.log.warn({ err: database }, 'readiness check failed: database')
          throw new TesseraError('SERVICE_UNAVAILABLE', {
            cause: database,
            retryAfter: READY_RETRY_AFTER,
            detail: 'The database is not answering.',
          })
        }
        if (redisUp === undefined) return { status: 'ok' as const, database: 'up' as const }
        return {
          status: redisUp ? ('ok' as const) : ('degraded' as const),
          database: 'up' as const,
          redis: redisUp ? ('up' as const) : ('down' as const),
        }
      },
    )
  }
