import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createPasswordHasher } from '../../src/passwords/hasher.js'
import { TEST_REDIS_URL } from '../helpers/database.js'
import { freePort } from '../helpers/process.js'
import {
  json,
  PASSWORD,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

interface Readiness {
  status: string
  database: string
  redis?: string
}

let server: TestServer | undefined
let proxy: TcpProxy | undefined
afterEach(async () => {
  await server?.close()
  await proxy?.close()
  server = undefined
  proxy = undefined
})

/** A server with rate limits on and counters in Redis at `redisUrl`; its log lines are kept. */
async function start(
  redisUrl: string,
): Promise<{ server: TestServer; logs: Array<Record<string, unknown>> }> {
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line))
      done()
    },
  })
  server = await startTestServer(
    {
      REDIS_URL: redisUrl,
      TESSERA_RATE_LIMIT: 'on',
      // keys of this run only, in the test database of Redis
      TESSERA_REDIS_PREFIX: `tessera-test-${randomBytes(4).toString('hex')}:`,
    },
    undefined,
    {
      logger: pino({ level: 'info' }, sink),
      // cheap hashing: the timings checked are Redis's, not argon2's on a busy machine
      hasher: createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }),
    },
  )
  return { server, logs }
}

async function readiness(app: FastifyInstance): Promise<{ statusCode: number; body: Readiness }> {
  const response = await app.inject({ url: '/readyz' })
  return { statusCode: response.statusCode, body: json<Readiness>(response) }
}

/** Polls /readyz until `accept` holds, at most `limitMs`. */
async function readinessUntil(
  app: FastifyInstance,
  accept: (ready: Readiness) => boolean,
  limitMs: number,
): Promise<Readiness> {
  const started = Date.now()
  for (;;) {
    const ready = await readiness(app)
    if (ready.statusCode === 200 && accept(ready.body)) return ready.body
    if (Date.now() - started > limitMs) {
      throw new Error(`/readyz still ${ready.statusCode} ${JSON.stringify(ready.body)} after ${limitMs} ms`)
    }
    await sleep(100)
  }
}

/** Register, login (right and wrong password), me and refresh: each its usual answer, and quickly. */
async function serveAccounts(app: FastifyInstance): Promise<void> {
  const timed = async (work: Promise<LightMyRequestResponse>) => {
    const started = Date.now()
    const response = await work
    // a Redis that does not answer must cost no request a wait on it
    expect(Date.now() - started).toBeLessThan(1500)
    expect(response.statusCode).toBeLessThan(500)
    return response
  }
  const user = await registerUser(app)
  const login = await timed(
    app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD, tokenDelivery: 'body' },
    }),
  )
  expect(login.statusCode).toBe(200)
  const wrong = await timed(
    app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: uniqueEmail(), password: 'wrong password' },
    }),
  )
  expect(wrong.statusCode).toBe(401)
  const me = await timed(
    app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${json(login).accessToken}` } }),
  )
  expect(me.statusCode).toBe(200)
  const refreshed = await timed(
    app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refreshToken: json(login).refreshToken, tokenDelivery: 'body' },
    }),
  )
  expect(refreshed.statusCode).toBe(200)
}

const warnedAboutRedis = (logs: Array<Record<string, unknown>>) =>
  logs.some((line) => Number(line.level) >= 40 && /redis/i.test(String(line.msg)))

// a server start alone takes seconds on a busy machine
const SLOW_START_MS = 60_000

describe('Redis unreachable from the start', () => {
  it('reports degraded readiness, logs a warning and keeps serving with rate limits in memory', {
    timeout: SLOW_START_MS,
  }, async () => {
    // nothing listens there
    const { server, logs } = await start(`redis://127.0.0.1:${await freePort()}`)
    const ready = await readiness(server.app)
    expect(ready.statusCode).toBe(200)
    expect(ready.body).toEqual({ status: 'degraded', database: 'up', redis: 'down' })
    await serveAccounts(server.app)
    expect(warnedAboutRedis(logs)).toBe(true)
  })
})

describe.skipIf(!TEST_REDIS_URL)('Redis outage and return', () => {
  it('goes degraded while Redis is cut off, keeps serving, and is ok again once it is back', {
    timeout: SLOW_START_MS,
  }, async () => {
    proxy = await startTcpProxy('127.0.0.1', Number(new URL(TEST_REDIS_URL ?? '').port || 6379))
    const { server, logs } = await start(proxy.url(TEST_REDIS_URL ?? ''))
    const { app } = server
    expect(await readinessUntil(app, (ready) => ready.redis === 'up', 5000)).toEqual({
      status: 'ok',
      database: 'up',
      redis: 'up',
    })
    await serveAccounts(app)

    proxy.cut()
    expect(await readinessUntil(app, (ready) => ready.redis === 'down', 5000)).toEqual({
      status: 'degraded',
      database: 'up',
      redis: 'down',
    })
    await serveAccounts(app)
    expect(warnedAboutRedis(logs)).toBe(true)

    proxy.restore()
    // the client reconnects on its own, at most 2 s apart
    expect(await readinessUntil(app, (ready) => ready.redis === 'up', 8000)).toEqual({
      status: 'ok',
      database: 'up',
      redis: 'up',
    })
    await serveAccounts(app)
  })
})
