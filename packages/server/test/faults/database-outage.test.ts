import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { createPasswordHasher } from '../../src/passwords/hasher.js'
import { createTessera, type Tessera } from '../../src/tessera.js'
import { freshPostgresUrl, TEST_DATABASE_URL } from '../helpers/database.js'
import { PASSWORD, TEST_SECRET, uniqueEmail } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { delay, waitFor } from '../helpers/wait.js'

/** TESSERA_DB_TIMEOUT of the server under test, seconds. */
const DB_TIMEOUT_S = 1
/** What a request may take beyond the database timeout: hashing, a busy event loop. */
const MARGIN_MS = 1500
/** A request still open after this long counts as hung. */
const HUNG_MS = 10_000
const WORKERS = 6
/** The longest a phase may take to show what it waits for (the load runs until it does). */
const PHASE_MS = 15_000

type Phase = 'before' | 'cut' | 'blackhole' | 'after'

interface Outcome {
  phase: Phase
  /** The client address: one per load loop. */
  ip: string
  route: string
  /** 0: no answer within HUNG_MS, or the connection failed. */
  status: number
  code: string | undefined
  contentType: string
  retryAfter: string | null
  ms: number
  body: Record<string, unknown>
}

/** Answers a load loop may get during and around an outage, besides 2xx and 503. */
const EXPECTED_401 = new Set([
  'REFRESH_TOKEN_INVALID',
  'REFRESH_TOKEN_REUSED',
  'TOKEN_INVALID',
  'TOKEN_REVOKED',
])

describe.skipIf(!TEST_DATABASE_URL)('database outage under load', () => {
  let database: { url: string; drop(): Promise<void> }
  let proxy: TcpProxy
  let tessera: Tessera
  let base: string
  let phase: Phase = 'before'
  const outcomes: Outcome[] = []
  const registeredIds: string[] = []

  /** One request from client address `ip` (the server trusts the loopback proxy's X-Forwarded-For). */
  async function call(
    method: string,
    route: string,
    { body, token, ip = '10.0.1.1' }: { body?: Record<string, unknown>; token?: string; ip?: string } = {},
  ): Promise<Outcome> {
    const started = performance.now()
    const at = phase
    const headers: Record<string, string> = { 'x-forwarded-for': ip }
    if (body) headers['content-type'] = 'application/json'
    if (token) headers.authorization = `Bearer ${token}`
    let outcome: Outcome
    try {
      const response = await fetch(`${base}${route}`, {
        method,
        headers,
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(HUNG_MS),
      })
      const text = await response.text()
      const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {}
      outcome = {
        phase: at,
        ip,
        route: `${method} ${route}`,
        status: response.status,
        code: typeof parsed.code === 'string' ? parsed.code : undefined,
        contentType: response.headers.get('content-type') ?? '',
        retryAfter: response.headers.get('retry-after'),
        ms: performance.now() - started,
        body: parsed,
      }
    } catch (error) {
      outcome = {
        phase: at,
        ip,
        route: `${method} ${route}`,
        status: 0,
        code: String(error),
        contentType: '',
        retryAfter: null,
        ms: performance.now() - started,
        body: {},
      }
    }
    outcomes.push(outcome)
    // a client that gets 503 waits a little, as Retry-After asks, rather than spinning
    if (outcome.status === 503) await delay(25)
    return outcome
  }

  /** One client: signs up or in, reads its profile, rotates its refresh token, sometimes logs out. */
  async function worker(ip: string, stopped: () => boolean): Promise<void> {
    let account: { email: string } | undefined
    let tokens: { access: string; refresh: string } | undefined
    let round = 0
    while (!stopped()) {
      round++
      if (!tokens) {
        const signIn = account
          ? await call('POST', '/auth/login', {
              ip,
              body: { email: account.email, password: PASSWORD, tokenDelivery: 'body' },
            })
          : await call('POST', '/auth/register', {
              ip,
              body: { email: uniqueEmail('fault'), password: PASSWORD, tokenDelivery: 'body' },
            })
        if (signIn.status === 200 || signIn.status === 201) {
          const body = signIn.body as {
            user: { id: string; email: string }
            accessToken: string
            refreshToken: string
          }
          if (signIn.status === 201) registeredIds.push(body.user.id)
          account = { email: body.user.email }
          tokens = { access: body.accessToken, refresh: body.refreshToken }
        }
        continue
      }
      const me = await call('GET', '/auth/me', { ip, token: tokens.access })
      if (me.status === 401) tokens = undefined
      if (!tokens) continue
      const refreshed = await call('POST', '/auth/refresh', {
        ip,
        body: { refreshToken: tokens.refresh, tokenDelivery: 'body' },
      })
      if (refreshed.status === 200) {
        const body = refreshed.body as { accessToken: string; refreshToken: string }
        tokens = { access: body.accessToken, refresh: body.refreshToken }
      } else if (refreshed.status === 401) tokens = undefined
      // on a 503 the token is kept: the rotation either never happened or a retry within the
      // reuse grace window gets its successor
      if (tokens && round % 5 === 0) {
        await call('POST', '/auth/logout', { ip, body: { refreshToken: tokens.refresh } })
        tokens = undefined
      }
    }
  }

  async function waitUntilReady(limitMs: number): Promise<number> {
    const started = performance.now()
    await waitFor(
      async () => ((await call('GET', '/readyz')).status === 200 ? true : undefined),
      '/readyz to answer 200 after the database came back',
      limitMs,
    )
    return performance.now() - started
  }

  /**
   * Waits until every load loop has had an answer that `counts` in this phase (since outcome `since`):
   * each client has met the phase, however long that takes on this machine (no fixed sleep).
   */
  async function untilEveryClient(since: number, what: string, counts: (outcome: Outcome) => boolean) {
    await waitFor(
      () => {
        const clients = new Set(
          outcomes
            .slice(since)
            .filter((outcome) => outcome.phase === phase && counts(outcome))
            .map((outcome) => outcome.ip),
        )
        return clients.size >= WORKERS ? true : undefined
      },
      `every load loop to get ${what}`,
      PHASE_MS,
    )
  }
  const ok = (outcome: Outcome) => outcome.status >= 200 && outcome.status < 300
  const unavailable = (outcome: Outcome) => outcome.status === 503

  beforeAll(async () => {
    const fresh = await freshPostgresUrl()
    if (!fresh) throw new Error('TEST_DATABASE_URL is set but no database was created')
    database = fresh
    const target = new URL(database.url)
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432))
    const config = parseConfig({
      DATABASE_URL: proxy.url(database.url),
      TESSERA_DB_TIMEOUT: String(DB_TIMEOUT_S),
      TESSERA_SECRET: TEST_SECRET,
      // limits on, counted in the database (no Redis): their statements meet the outage too
      TESSERA_RATE_LIMIT: 'on',
      // each load loop is a client address of its own
      TESSERA_TRUST_PROXY: '127.0.0.1',
      TESSERA_PUBLIC_URL: 'http://127.0.0.1:3000',
    })
    tessera = await createTessera(config, {
      logger: false,
      // cheap hashing: the latencies measured are the database's, not argon2's on a busy machine
      hasher: createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }),
    })
    await tessera.app.listen({ port: 0, host: '127.0.0.1' })
    const address = tessera.app.server.address()
    if (address === null || typeof address === 'string') throw new Error('server has no TCP address')
    base = `http://127.0.0.1:${address.port}`
  })

  afterAll(async () => {
    await tessera?.close()
    await proxy?.close()
    await database?.drop()
  })

  it('answers only 503 with Retry-After while the database is away, never 500 or a hang, and recovers by itself', async () => {
    let stop = false
    const load = Promise.all(Array.from({ length: WORKERS }, (_, n) => worker(`10.0.0.${n + 1}`, () => stop)))

    // each phase lasts until every load loop has met it, rather than a fixed time
    await untilEveryClient(0, 'a 2xx before the outage', ok)
    // an outage: every connection reset, new ones refused
    phase = 'cut'
    let since = outcomes.length
    proxy.cut()
    await untilEveryClient(since, 'a 503 during the cut', unavailable)
    const readyDuringCut = await call('GET', '/readyz')
    proxy.restore()
    phase = 'after'
    const recoveryAfterCut = await waitUntilReady(10_000)
    since = outcomes.length
    await untilEveryClient(since, 'a 2xx after the cut', ok)

    // a partition: nothing answers, only the timeouts end the waits
    phase = 'blackhole'
    since = outcomes.length
    proxy.blackhole()
    const readyDuringBlackhole = await call('GET', '/readyz')
    await untilEveryClient(since, 'a 503 during the partition', unavailable)
    proxy.restore()
    phase = 'after'
    const recoveryAfterBlackhole = await waitUntilReady(10_000)
    since = outcomes.length
    await untilEveryClient(since, 'a 2xx after the partition', ok)
    stop = true
    await load

    for (const ready of [readyDuringCut, readyDuringBlackhole]) {
      expect(ready.status).toBe(503)
      expect(ready.contentType).toMatch(/^application\/problem\+json/)
      expect(ready.code).toBe('SERVICE_UNAVAILABLE')
      expect(ready.retryAfter).toMatch(/^\d+$/)
    }

    const unexpected = outcomes.filter((outcome) => {
      if (outcome.status >= 200 && outcome.status < 300) return false
      if (outcome.status === 401) return !EXPECTED_401.has(outcome.code ?? '')
      // busy loops run into the login limits; a refusal is a designed answer too
      if (outcome.status === 429) return !(outcome.code === 'RATE_LIMITED' && outcome.retryAfter)
      if (outcome.status === 503) {
        return !(
          outcome.code === 'SERVICE_UNAVAILABLE' &&
          outcome.contentType.startsWith('application/problem+json') &&
          /^\d+$/.test(outcome.retryAfter ?? '')
        )
      }
      return true
    })
    expect(unexpected.map(({ body, ...rest }) => rest)).toEqual([])
    expect(outcomes.filter((outcome) => outcome.status >= 500 && outcome.status !== 503)).toEqual([])

    const unavailableOutcomes = outcomes.filter(unavailable)
    const slowest = Math.max(...outcomes.map((outcome) => outcome.ms))
    const slowest503 = Math.max(...unavailableOutcomes.map((outcome) => outcome.ms))
    const count = (at: Phase, status: (code: number) => boolean) =>
      outcomes.filter((outcome) => outcome.phase === at && status(outcome.status)).length
    // the numbers the issue asks for, in the test log
    console.info(
      JSON.stringify({
        requests: outcomes.length,
        unavailable: unavailableOutcomes.length,
        limited: outcomes.filter((outcome) => outcome.status === 429).length,
        okBefore: count('before', (s) => s < 300),
        during: {
          cut: { ok: count('cut', (s) => s < 300), unavailable: count('cut', (s) => s === 503) },
          blackhole: {
            ok: count('blackhole', (s) => s < 300),
            unavailable: count('blackhole', (s) => s === 503),
          },
        },
        okAfter: count('after', (s) => s < 300),
        slowestMs: Math.round(slowest),
        slowestRequests: outcomes
          .filter((outcome) => outcome.ms > DB_TIMEOUT_S * 1000 * 0.9)
          .map(
            (outcome) => `${outcome.phase} ${outcome.route} ${outcome.status} ${Math.round(outcome.ms)} ms`,
          ),
        slowest503Ms: Math.round(slowest503),
        recoveryMs: [Math.round(recoveryAfterCut), Math.round(recoveryAfterBlackhole)],
        registered: registeredIds.length,
      }),
    )
    expect(count('cut', (s) => s === 503)).toBeGreaterThan(0)
    expect(count('blackhole', (s) => s === 503)).toBeGreaterThan(0)
    expect(count('before', (s) => s < 300)).toBeGreaterThan(0)
    expect(count('after', (s) => s < 300)).toBeGreaterThan(0)
    // at most two bounded waits in a row: for a pooled connection (every one busy with a statement
    // the outage froze), then for its statement; the log above names the requests past one timeout
    expect(slowest).toBeLessThan(2 * DB_TIMEOUT_S * 1000 + MARGIN_MS)
  })

  it('serves in full after the outage: register, login, refresh, me', async () => {
    const email = uniqueEmail('after')
    const registered = await call('POST', '/auth/register', {
      body: { email, password: PASSWORD, tokenDelivery: 'body' },
    })
    expect(registered.status).toBe(201)
    registeredIds.push((registered.body as { user: { id: string } }).user.id)
    const login = await call('POST', '/auth/login', {
      body: { email, password: PASSWORD, tokenDelivery: 'body' },
    })
    expect(login.status).toBe(200)
    const refreshed = await call('POST', '/auth/refresh', {
      body: { refreshToken: login.body.refreshToken, tokenDelivery: 'body' },
    })
    expect(refreshed.status).toBe(200)
    const me = await call('GET', '/auth/me', { token: String(refreshed.body.accessToken) })
    expect(me.status).toBe(200)
    expect((me.body as { user: { email: string } }).user.email).toBe(email)
    expect((await call('GET', '/readyz')).body).toEqual({ status: 'ok', database: 'up' })
  })

  it('left nothing half-written: every row has its parent, every token family one live token', async () => {
    // straight to PostgreSQL, not through the proxy
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    try {
      const count = async (text: string): Promise<number> => {
        const { rows } = await client.query<{ n: string }>(`select count(*) as n from ${text}`)
        return Number(rows[0]?.n)
      }
      const checks = {
        sessionsWithoutUser: await count(
          'sessions s where not exists (select 1 from users u where u.id = s.user_id)',
        ),
        refreshTokensWithoutSession: await count(
          'refresh_tokens t where not exists (select 1 from sessions s where s.id = t.session_id)',
        ),
        oneTimeTokensWithoutUser: await count(
          'one_time_tokens o where not exists (select 1 from users u where u.id = o.user_id)',
        ),
        // a login or registration that wrote the session but not its first token, or a rotation
        // that spent a token without its successor (0 live) or added one without spending (2)
        sessionsWithoutExactlyOneLiveToken: await count(
          `sessions s where (select count(*) from refresh_tokens t
             where t.session_id = s.id and t.used_at is null) <> 1`,
        ),
        spentTokensWithoutSuccessor: await count(
          `refresh_tokens t where t.used_at is not null and (t.successor_sealed is null or not exists (
             select 1 from refresh_tokens n
             where n.session_id = t.session_id and n.id <> t.id and n.created_at = t.used_at))`,
        ),
        // registration writes the user, its verification token and its session in one transaction
        usersWithoutVerificationToken: await count(
          `users u where not exists (select 1 from one_time_tokens o
             where o.user_id = u.id and o.purpose = 'email_verification')`,
        ),
        usersWithoutSession: await count(
          'users u where not exists (select 1 from sessions s where s.user_id = u.id)',
        ),
      }
      console.info(
        JSON.stringify({
          users: await count('users'),
          sessions: await count('sessions'),
          refreshTokens: await count('refresh_tokens'),
          ...checks,
        }),
      )
      expect(checks).toEqual({
        sessionsWithoutUser: 0,
        refreshTokensWithoutSession: 0,
        oneTimeTokensWithoutUser: 0,
        sessionsWithoutExactlyOneLiveToken: 0,
        spentTokensWithoutSuccessor: 0,
        usersWithoutVerificationToken: 0,
        usersWithoutSession: 0,
      })
      // every registration the clients saw succeed is stored
      const { rows } = await client.query<{ n: string }>(
        'select count(*) as n from users where id = any($1)',
        [registeredIds],
      )
      expect(Number(rows[0]?.n)).toBe(registeredIds.length)
    } finally {
      await client.end()
    }
  })
})
