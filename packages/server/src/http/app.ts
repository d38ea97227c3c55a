import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import cookie from '@fastify/cookie'
import cors from '@fastify/cors'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { TesseraError } from '../errors.js'
import type { FlowDeps } from '../flows/deps.js'
import { isUuid } from '../ids.js'
import { createMetrics, type Metrics } from '../metrics.js'
import type { RedisHandle } from '../redis.js'
import type { RevocationFeed } from '../revocations/feed.js'
import { allowedMethods, clientErrorHandler, frameworkErrorHandler } from './early-errors.js'
import { lazySchemaCompilers } from './lazy-schema-compilers.js'
import { errorHandler, sendProblem } from './problem.js'
import { observeRequests } from './request-metrics.js'
import { accountRoutes } from './routes/account.js'
import { accountRecoveryRoutes } from './routes/account-recovery.js'
import { adminRoutes } from './routes/admin.js'
import { authTokenRoutes } from './routes/auth-tokens.js'
import { discoveryRoutes } from './routes/discovery.js'
import { enrolmentRoutes } from './routes/enrolment.js'
import { identityRoutes } from './routes/identities.js'
import { magicLinkRoutes } from './routes/magic-link.js'
import { metricsRoutes } from './routes/metrics.js'
import { mfaRoutes } from './routes/mfa.js'
import { oauthRoutes } from './routes/oauth.js'
import { pageRoutes } from './routes/pages.js'
import { passkeySignInRoutes } from './routes/passkey-sign-in.js'
import { passkeyRoutes } from './routes/passkeys.js'
import { providerRoutes } from './routes/providers.js'
import { revocationRoutes } from './routes/revocations.js'
import { Problem } from './schemas.js'
import { registerSecurityHeaders, staticSecurityHeaders } from './security-headers.js'
import { refuseUnstorableText } from './text-input.js'

export interface AppDeps extends FlowDeps {
  /** Resolves when the database answers (readiness). */
  ping(): Promise<void>
  /** The shared Redis connection when REDIS_URL is set (readiness reports it). */
  redis?: RedisHandle | undefined
  /** A pino logger or Fastify's logger options; `false` for none (tests). */
  logger?: FastifyServerOptions['loggerInstance'] | FastifyServerOptions['logger']
  /** What `GET /metrics` serves and the request hooks count into; a bare set of its own by default. */
  metrics?: Metrics | undefined
  /** This instance's revocation feed; without one, GET /auth/revocations is not served. */
  revocationFeed?: RevocationFeed | undefined
  /** Milliseconds between the feed's pings (tests shorten it). */
  revocationHeartbeatMs?: number | undefined
}

/** Milliseconds a connection that never sent a byte is kept after close() began. */
const SILENT_CONNECTION_GRACE_MS = 250

/** Builds the HTTP app; never listens, so tests drive it with `inject()`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps
  const loggerOption =
    deps.logger && typeof deps.logger === 'object' && 'child' in deps.logger
      ? { loggerInstance: deps.logger }
      : { logger: deps.logger ?? false }
  const securityHeaders = staticSecurityHeaders(config)
  const app = Fastify({
    ...loggerOption,
    // a client that trickles its headers or body is cut off (408), not kept for minutes; Node
    // looks for such connections every connectionsCheckingInterval, so that is a second here
    requestTimeout: config.requestTimeout * 1000,
    http: { headersTimeout: config.headersTimeout * 1000, connectionsCheckingInterval: 1000 },
    // what is refused before routing is problem+json with the security headers too
    frameworkErrors: frameworkErrorHandler(securityHeaders),
    clientErrorHandler: clientErrorHandler(securityHeaders),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    genReqId: () => randomUUID(),
    // no type coercion: "123" is not a number and 123 is not an email
    ajv: {
      // a property the schema does not list is refused, as the OpenAPI document says, not dropped
      customOptions: { coerceTypes: false, allErrors: true, removeAdditional: false },
      onCreate: narrowFormats,
    },
    // each route's schemas compiled at its first request, not all of them before listening
    schemaController: { compilersFactory: lazySchemaCompilers() },
    routerOptions: { ignoreTrailingSlash: true },
    // answered below as problem+json, where Fastify's own 503 is plain JSON
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>()

  // while draining on shutdown, requests on kept-alive connections are told to go elsewhere
  let closing = false
  // a connection that never sent a byte (an HTTP client's spare one: undici opens one when a
  // stream it read is aborted) is not "idle" to Node's closeIdleConnections, and would hold close()
  // until the drain deadline (forever for createTessera's close()). It has nothing in flight: it
  // goes, after a moment in which bytes already on their way are read. One that sent part of a
  // request stays, to be answered 503 below.
  const sockets = new Set<Socket>()
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  app.addHook('preClose', async () => {
    closing = true
    const silent = [...sockets].filter((socket) => socket.bytesRead === 0)
    if (silent.length === 0) return
    setTimeout(() => {
      for (const socket of silent) if (socket.bytesRead === 0) socket.destroy()
    }, SILENT_CONNECTION_GRACE_MS).unref()
  })

  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    throw new TesseraError('SERVICE_UNAVAILABLE', {
      retryAfter: 1,
      detail: 'The server is shutting down; retry.',
    })
  })

  // only JSON bodies: a text/plain body (which a cross-site form can send) is 415
  app.removeContentTypeParser(['text/plain'])
  app.setErrorHandler(errorHandler)
  refuseUnstorableText(app)
  const methodsOf = allowedMethods(app)
  app.setNotFoundHandler((request, reply) => {
    const allowed = methodsOf(request.url)
    if (allowed.length === 0) return sendProblem(reply, new TesseraError('NOT_FOUND'))
    return sendProblem(reply.header('allow', allowed.join(', ')), new TesseraError('METHOD_NOT_ALLOWED'))
  })
  app.addSchema(Problem)

  // before every route, so their hooks reach all of them (404s included)
  const metrics = deps.metrics ?? createMetrics()
  observeRequests(app, metrics)
  await registerSecurityHeaders(app, config)
  // an OPTIONS that is not a CORS preflight asks which methods a path takes (RFC 9110 §9.3.7):
  // answered here, where the CORS plugin would say 400 in plain text
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'OPTIONS') return
    if (
      request.headers.origin !== undefined &&
      request.headers['access-control-request-method'] !== undefined
    ) {
      return
    }
    const allowed = methodsOf(request.url)
    if (allowed.length === 0) throw new TesseraError('NOT_FOUND')
    return reply
      .code(204)
      .header('allow', [...allowed, 'OPTIONS'].join(', '))
      .send()
  })
  await app.register(cookie)
  await app.register(cors, {
    origin: [...config.allowedOrigins],
    credentials: true,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Content-Type', 'Authorization'],
    maxAge: 600,
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera',
        version: '0.1.0',
        description:
          'Self-hostable JWT authentication server. Errors are RFC 9457 problem+json with a stable `code`. ' +
          'Access tokens are RFC 9068 JWTs (`typ: at+jwt`) verifiable against `/.well-known/jwks.json`.',
      },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          // service credentials at /oauth/* (tessera clients create); form fields work too
          basic: { type: 'http', scheme: 'basic' },
        },
      },
    },
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // the docs page gets swagger-ui's own CSP (its scripts and styles) in place of the API's
    staticCSP: true,
    transformStaticCSP: (header) => header.replace("frame-ancestors 'self'", "frame-ancestors 'none'"),
  })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await app.register(discoveryRoutes(deps))
  await app.register(authTokenRoutes(deps))
  await app.register(accountRecoveryRoutes(deps))
  await app.register(accountRoutes(deps))
  await app.register(mfaRoutes(deps))
  if (config.magicLink) await app.register(magicLinkRoutes(deps))
  await app.register(enrolmentRoutes(deps))
  await app.register(passkeyRoutes(deps))
  await app.register(passkeySignInRoutes(deps))
  await app.register(pageRoutes(deps))
  await app.register(oauthRoutes(deps))
  await app.register(providerRoutes(deps))
  await app.register(identityRoutes(deps))
  await app.register(adminRoutes(deps))
  await app.register(metricsRoutes({ config, metrics }))
  if (deps.revocationFeed) {
    await app.register(
      revocationRoutes({
        ...deps,
        revocationFeed: deps.revocationFeed,
        securityHeaders,
        heartbeatMs: deps.revocationHeartbeatMs,
      }),
    )
  }
  return app
}

type Format = RegExp | ((value: string) => boolean) | { validate: RegExp | ((value: string) => boolean) }
interface FormatRegistry {
  formats: Record<string, Format | undefined>
  addFormat(name: string, format: Format): unknown
}

/**
 * ajv-formats' `uuid` also takes `urn:uuid:…`, and its `date-time` a leap second (`…23:59:60Z`):
 * valid by their RFCs, but PostgreSQL's uuid and `new Date()` refuse them, so a request would end
 * in a 500. Narrowed to what the rest of the server takes.
 */
function narrowFormats(ajv: unknown): void {
  const registry = ajv as FormatRegistry
  registry.addFormat('uuid', (value: string) => isUuid(value))
  const dateTime = registry.formats['date-time']
  const passes = (format: Format | undefined, value: string): boolean => {
    if (format === undefined) return true
    if (format instanceof RegExp) return format.test(value)
    if (typeof format === 'function') return format(value)
    return passes(format.validate, value)
  }
  registry.addFormat(
    'date-time',
    (value: string) => passes(dateTime, value) && Number.isFinite(Date.parse(value)),
  )
}
