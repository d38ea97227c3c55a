// Two `tessera serve` processes on one PostgreSQL and one Redis, as behind a load balancer: what
// one of them does, the other honours at once. Shared rate-limit counts between two such processes
// are proven in test/limits/shared.test.ts (failed logins through A and B add up to one limit, counted
// in Redis); this file proves revocation and key rotation. The rotation test runs its two servers in
// this process (createTessera and listen, as `tessera serve` does), sharing one test clock: a rotated
// key then takes over when the test moves the clock, not after seconds of real waiting.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { createPasswordHasher } from '../../src/passwords/hasher.js'
import { createTessera, type Tessera } from '../../src/tessera.js'
import { type TestClock, testClock } from '../helpers/clock.js'
import { freshPostgresUrl, TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/database.js'
import { createVerifier } from '../helpers/middleware.js'
import {
  childEnv,
  cleanupProcesses,
  type Env,
  login,
  register,
  requestJson,
  type ServerProcess,
  spawnCli,
  startServerProcess,
  type TokenResponse,
  waitFor,
} from '../helpers/process.js'
import { CHEAP_ARGON2ID } from '../helpers/server.js'
import { runRedisPrefix } from '../limits/limits-helpers.js'

const PASSWORD = 'correct horse battery staple'
const SECRET = randomBytes(36).toString('base64url')
/** The one public URL of both instances: the issuer of every token, whichever instance signed it. */
const ISSUER = 'https://auth.example.com'
/**
 * Seconds a rotated-in key is published before it signs. The servers' clock stands still until the
 * test moves it, so a lead of any length costs no waiting, and both JWKS can be looked at first.
 */
const PUBLISH_LEAD = 60

const prefixes: string[] = []
const drops: (() => Promise<void>)[] = []

async function cleanup(): Promise<void> {
  await cleanupProcesses()
  await Promise.all(drops.splice(0).map((drop) => drop()))
}

afterAll(async () => {
  if (!TEST_REDIS_URL) return
  const redis = new Redis(TEST_REDIS_URL)
  try {
    for (const prefix of prefixes.splice(0)) {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
    }
  } finally {
    redis.disconnect()
  }
})

/** The environment of both instances: a fresh database, the shared Redis under a prefix of its own. */
async function sharedEnv(): Promise<Env> {
  const database = await freshPostgresUrl()
  if (!database) throw new Error('TEST_DATABASE_URL is not set')
  drops.push(database.drop)
  const prefix = runRedisPrefix()
  prefixes.push(prefix)
  return {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    TESSERA_REDIS_PREFIX: prefix,
    TESSERA_SECRET: SECRET,
    TESSERA_PUBLIC_URL: ISSUER,
    // limits on, as in production: they count in Redis
    TESSERA_RATE_LIMIT: 'on',
    // a rotation elsewhere reaches a running server within a second
    TESSERA_KEY_REFRESH_INTERVAL: '1',
    // read by `tessera keys rotate`
    TESSERA_KEY_PUBLISH_LEAD: String(PUBLISH_LEAD),
  }
}

/** Starts A, then B (A migrates and makes the first key), and waits until both reach Redis. */
async function startPair(env: Env): Promise<{ a: ServerProcess; b: ServerProcess }> {
  const a = await startServerProcess(env)
  const b = await startServerProcess(env)
  for (const server of [a, b]) await redisUp(server.url)
  return { a, b }
}

interface Instance {
  /** `http://127.0.0.1:<port>` */
  url: string
  tessera: Tessera
}

/** One server in this process on `env`, listening on a free port, its time read from `clock`. */
async function startInstance(env: Env, clock: TestClock): Promise<Instance> {
  const config = parseConfig({
    ...childEnv(env),
    // off, as in every test server: a run would delete rows a test with a moved clock looks at
    TESSERA_HOUSEKEEPING: 'off',
  })
  const tessera = await createTessera(config, {
    logger: false,
    clock,
    hasher: createPasswordHasher(CHEAP_ARGON2ID),
  })
  await tessera.app.listen({ port: 0, host: '127.0.0.1' })
  const address = tessera.app.server.address()
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address')
  return { url: `http://127.0.0.1:${address.port}`, tessera }
}

/** Waits until `url` reports Redis up: rate limits and revocations are then shared. */
async function redisUp(url: string): Promise<void> {
  await waitFor(
    async () => {
      const ready = await requestJson(`${url}/readyz`)
      return ready.status === 200 && ready.body.redis === 'up' ? true : undefined
    },
    `${url} to report Redis up`,
    10_000,
  )
}

interface Tokens {
  accessToken: string
  refreshToken: string
}

const me = (base: string, token: string) =>
  requestJson<{ code?: string; user?: { id: string } }>(`${base}/auth/me`, { token })

const refreshAt = (base: string, refreshToken: string) =>
  requestJson<TokenResponse & { code?: string }>(`${base}/auth/refresh`, {
    body: { refreshToken, tokenDelivery: 'body' },
  })

/** Refreshes through `base`, which must succeed: the session's next pair of tokens. */
async function refreshed(base: string, refreshToken: string): Promise<Tokens> {
  const response = await refreshAt(base, refreshToken)
  if (response.status !== 200)
    throw new Error(`refresh at ${base}: ${response.status} ${JSON.stringify(response.body)}`)
  return { accessToken: response.body.accessToken, refreshToken: response.body.refreshToken }
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid

const jwksKids = async (base: string) =>
  (await requestJson<{ keys: { kid: string }[] }>(`${base}/.well-known/jwks.json`)).body.keys.map(
    (key) => key.kid,
  )

const email = (what: string) => `${what}-${randomBytes(4).toString('hex')}@example.com`

interface Revocation {
  how: string
  /** Revokes through A (`base`); `first` and `second` are two sessions of one user. */
  revoke(base: string, first: Tokens, second: Tokens): Promise<number>
  /** The sessions it ends: `first` alone, or both. */
  ends: 'first' | 'both'
}

const REVOCATIONS: Revocation[] = [
  {
    how: 'logout with its refresh token',
    revoke: async (base, first) =>
      (await requestJson(`${base}/auth/logout`, { body: { refreshToken: first.refreshToken } })).status,
    ends: 'first',
  },
  {
    how: 'DELETE /auth/sessions/:id',
    // signed in with the second session, the user ends the first (a "your devices" page)
    revoke: async (base, first, second) =>
      (
        await requestJson(`${base}/auth/sessions/${decodeJwt(first.accessToken).sid}`, {
          method: 'DELETE',
          token: second.accessToken,
        })
      ).status,
    ends: 'first',
  },
  {
    how: 'logout-all',
    revoke: async (base, first) =>
      (await requestJson(`${base}/auth/logout-all`, { method: 'POST', token: first.accessToken })).status,
    ends: 'both',
  },
]

describe.skipIf(!TEST_DATABASE_URL || !TEST_REDIS_URL)(
  'two server processes, one PostgreSQL, one Redis',
  () => {
    describe('a session revoked through A', () => {
      let a: ServerProcess
      let b: ServerProcess
      beforeAll(async () => {
        ;({ a, b } = await startPair(await sharedEnv()))
      }, 60_000)
      afterAll(cleanup)

      it.each(REVOCATIONS)('is refused by B at once: $how', async ({ revoke, ends }) => {
        const address = email('revoke')
        // one session begun on A, one on B
        const registered = await register(a.url, address, PASSWORD)
        expect(registered.status).toBe(201)
        const loggedIn = await login(b.url, address, PASSWORD)
        expect(loggedIn.status).toBe(200)
        // B rotates both refresh tokens and accepts both access tokens: anything B kept in memory
        // about these sessions would now say "live"
        const first = await refreshed(b.url, registered.body.refreshToken)
        const second = await refreshed(b.url, loggedIn.body.refreshToken)
        for (const session of [first, second]) expect((await me(b.url, session.accessToken)).status).toBe(200)

        expect(await revoke(a.url, first, second)).toBe(204)

        // no wait: the very next request to B is refused
        const ended = ends === 'both' ? [first, second] : [first]
        for (const session of ended) {
          const refused = await me(b.url, session.accessToken)
          expect(refused.status).toBe(401)
          expect(refused.body.code).toBe('TOKEN_REVOKED')
          const refreshRefused = await refreshAt(b.url, session.refreshToken)
          expect(refreshRefused.status).toBe(401)
          expect(refreshRefused.body.code).toBe('REFRESH_TOKEN_INVALID')
        }
        // the other session of the user lives on, on both
        if (ends === 'first') {
          expect((await me(b.url, second.accessToken)).status).toBe(200)
          expect((await me(a.url, second.accessToken)).status).toBe(200)
          expect((await refreshAt(b.url, second.refreshToken)).status).toBe(200)
        }
      })
    })

    it('publishes a rotated key in both JWKS before it signs, then both sign with it', async () => {
      const env = await sharedEnv()
      // one clock for both, as synchronised hosts have; A migrates and makes the first key
      const clock = testClock()
      const instances: Instance[] = []
      try {
        instances.push(await startInstance(env, clock))
        instances.push(await startInstance(env, clock))
        const [a, b] = instances as [Instance, Instance]
        for (const server of instances) await redisUp(server.url)
        const address = email('rotate')
        const registered = await register(a.url, address, PASSWORD)
        expect(registered.status).toBe(201)
        const userId = registered.body.user?.id
        const oldKid = kidOf(registered.body.accessToken)
        expect(await jwksKids(a.url)).toEqual([oldKid])
        expect(await jwksKids(b.url)).toEqual([oldKid])

        // a resource server verifying against B's JWKS. Its long cooldown means an unknown kid never
        // makes it fetch again here: a new key must already be in the set it fetched during the lead
        const jwksFetches: string[] = []
        const verifier = createVerifier({
          issuer: ISSUER,
          audience: 'tessera',
          jwksUrl: `${b.url}/.well-known/jwks.json`,
          jwksCooldown: 600,
          clock,
          fetch: (url, init) => {
            jwksFetches.push(url)
            return fetch(url, init)
          },
        })

        // no admin HTTP API yet: an operator rotates with the CLI, a process of its own on the database
        // (on the system clock, which is ahead of the servers' standing one by the seconds spent here)
        const rotated = await spawnCli(['keys', 'rotate'], env)
        expect(rotated.stderr).toBe('')
        expect(rotated.code).toBe(0)
        const announced = /New signing key ([A-Za-z0-9_-]{43}): .* signing from (\S+Z)\.$/m.exec(
          rotated.stdout,
        )
        const newKid = announced?.[1] ?? ''
        const activatesAt = Date.parse(announced?.[2] ?? '')
        expect(newKid).not.toBe('')
        expect(newKid).not.toBe(oldKid)
        expect(activatesAt).toBeGreaterThan(clock.now().getTime())

        // both servers re-read the ring within TESSERA_KEY_REFRESH_INTERVAL (of real time: a timer)
        // and publish the new key...
        await Promise.all(
          [a, b].map((server) =>
            waitFor(
              async () => ((await jwksKids(server.url)).includes(newKid) ? true : undefined),
              `${newKid} in the JWKS of ${server.url}`,
              10_000,
            ),
          ),
        )
        // ...while they still sign with the old one
        const beforeActivation = await refreshed(a.url, registered.body.refreshToken)
        // the resource server's first fetch of B's JWKS: it gets both keys
        await expect(verifier.verify(beforeActivation.accessToken)).resolves.toMatchObject({ sub: userId })
        expect(clock.now().getTime(), 'the new key must be in both JWKS before it signs').toBeLessThan(
          activatesAt,
        )
        expect(kidOf(beforeActivation.accessToken)).toBe(oldKid)
        expect(jwksFetches).toHaveLength(1)

        // at its activation time both sign with it, without a restart
        clock.set(new Date(activatesAt))
        const fromA = await login(a.url, address, PASSWORD)
        expect(fromA.status).toBe(200)
        expect(kidOf(fromA.body.accessToken)).toBe(newKid)
        const fromB = await refreshed(b.url, beforeActivation.refreshToken)
        expect(kidOf(fromB.accessToken)).toBe(newKid)

        // each verifies the other's new tokens
        expect((await me(b.url, fromA.body.accessToken)).status).toBe(200)
        expect((await me(a.url, fromB.accessToken)).status).toBe(200)
        // and so does the resource server, from the JWKS it fetched during the lead: no second fetch
        await expect(verifier.verify(fromA.body.accessToken)).resolves.toMatchObject({ sub: userId })
        await expect(verifier.verify(fromB.accessToken)).resolves.toMatchObject({ sub: userId })
        expect(jwksFetches).toHaveLength(1)

        // tokens signed with the old key still verify everywhere, and the old key stays published
        for (const server of [a, b]) {
          expect((await me(server.url, registered.body.accessToken)).status).toBe(200)
          expect((await me(server.url, beforeActivation.accessToken)).status).toBe(200)
          expect((await jwksKids(server.url)).sort()).toEqual([oldKid, newKid].sort())
        }
        await expect(verifier.verify(registered.body.accessToken)).resolves.toMatchObject({ sub: userId })
      } finally {
        await Promise.all(instances.map((instance) => instance.tessera.close()))
        await cleanup()
      }
    })
  },
)
