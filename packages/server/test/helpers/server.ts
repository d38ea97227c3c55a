import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { type Config, parseConfig } from '../../src/config.js'
import type { FlowDeps } from '../../src/flows/deps.js'
import type { Housekeeping } from '../../src/housekeeping.js'
import { type Argon2Params, createPasswordHasher } from '../../src/passwords/hasher.js'
import { createTessera, type TesseraOptions } from '../../src/tessera.js'
import type { WebhookDelivery } from '../../src/webhooks/delivery.js'
import { type TestClock, testClock } from './clock.js'
import { freshDatabase, type TestDatabase } from './database.js'

export const TEST_SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz'

export interface TestServer {
  app: FastifyInstance
  deps: FlowDeps
  config: Config
  clock: TestClock
  database: TestDatabase
  /** Present when the test turned housekeeping on (`TESSERA_HOUSEKEEPING: 'on'`). */
  housekeeping: Housekeeping | undefined
  /** Present with TESSERA_WEBHOOK_URL: the test drives it with `deliverDue()` (no background loop unless asked). */
  webhooks: WebhookDelivery | undefined
  close(): Promise<void>
}

/**
 * argon2id at its cheapest (1 MiB, one pass): a test server hashes in a millisecond instead of the
 * ~50 ms of OWASP's parameters. Tests about hashing itself ask for the real one.
 */
export const CHEAP_ARGON2ID: Argon2Params = Object.freeze({ memoryCost: 1024, timeCost: 1, parallelism: 1 })

export interface TestServerOptions extends Partial<Omit<TesseraOptions, 'clock' | 'database'>> {
  /** Hash with OWASP's argon2id parameters, as production does; default: {@link CHEAP_ARGON2ID}. */
  realHasher?: boolean
}

/**
 * A whole server on a fresh database (PGlite in memory, or PostgreSQL with TEST_DATABASE_URL), a
 * clock that stands still, and the environment a test adds.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  clock: TestClock = testClock(),
  options: TestServerOptions = {},
): Promise<TestServer> {
  const { realHasher = false, ...tesseraOptions } = options
  const config = parseConfig({
    TESSERA_SECRET: TEST_SECRET,
    TESSERA_RATE_LIMIT: 'off',
    TESSERA_PUBLIC_URL: 'http://localhost:3000',
    // off unless a test asks: a run on its timer would delete rows a test with a moved clock looks at
    TESSERA_HOUSEKEEPING: 'off',
    ...env,
    DATABASE_URL: 'memory://',
  })
  const database = await freshDatabase()
  const tessera = await createTessera(config, {
    logger: false,
    webhookLoop: false,
    ...(realHasher ? {} : { hasher: createPasswordHasher(CHEAP_ARGON2ID) }),
    ...tesseraOptions,
    clock,
    database: database.handle,
  })
  return {
    app: tessera.app,
    deps: tessera.deps,
    config,
    clock,
    database,
    housekeeping: tessera.housekeeping,
    webhooks: tessera.webhooks,
    async close() {
      await tessera.close()
      await database.drop()
    },
  }
}

let counter = 0
/** An email no other test in the run uses. */
export const uniqueEmail = (prefix = 'user'): string =>
  `${prefix}-${process.pid}-${Date.now()}-${++counter}@example.com`

export const PASSWORD = 'correct horse battery staple'

export interface Registered {
  email: string
  password: string
  userId: string
  accessToken: string
  refreshToken: string
  response: LightMyRequestResponse
}

export const json = <T = Record<string, unknown>>(response: LightMyRequestResponse): T => response.json() as T

/** Registers a user with body delivery, so the refresh token is in hand. */
export async function registerUser(
  app: FastifyInstance,
  email = uniqueEmail(),
  password = PASSWORD,
): Promise<Registered> {
  const response = await app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email, password, tokenDelivery: 'body' },
  })
  if (response.statusCode !== 201) throw new Error(`register failed: ${response.statusCode} ${response.body}`)
  const body = json<{ user: { id: string }; accessToken: string; refreshToken: string }>(response)
  return {
    email,
    password,
    userId: body.user.id,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    response,
  }
}

export const refreshWith = (app: FastifyInstance, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })

export const logoutWith = (app: FastifyInstance, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken } })

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** The cookies of a response by name, with their attributes. */
export function cookiesOf(response: LightMyRequestResponse): Map<string, (typeof response.cookies)[number]> {
  return new Map(response.cookies.map((cookie) => [cookie.name, cookie]))
}
