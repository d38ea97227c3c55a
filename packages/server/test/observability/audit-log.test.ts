import { randomUUID } from 'node:crypto'
import { decodeJwt } from 'jose'
import { type Logger, pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createEventRecorder } from '../../src/audit/recorder.js'
import { pruneAuditLog } from '../../src/audit/retention.js'
import type { Mail } from '../../src/mail/mail.js'
import { createMetrics } from '../../src/metrics.js'
import type { AuthEventRecord } from '../../src/store/records.js'
import { testClock } from '../helpers/clock.js'
import { recordingMailer } from '../helpers/mail.js'
import {
  bearer,
  json,
  PASSWORD,
  type Registered,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'
import { METRICS_TOKEN, sampleValue, scrape } from './scrape.js'

const USER_AGENT = 'audit-test/1.0 (observability)'
const NEW_PASSWORD = 'a brand new passphrase 42'

const mailer = recordingMailer()

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_REFRESH_REUSE_GRACE: '10s' }, testClock(), { mailer })
})
afterAll(() => server.close())

const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url, payload, headers: { 'user-agent': USER_AGENT, ...headers } })

const sessionOf = (accessToken: string): string => String(decodeJwt(accessToken).sid)

/** The user's audit rows once one of `type` is there: rows are written after the answer. */
async function eventsOf(userId: string, type: string): Promise<AuthEventRecord[]> {
  return vi.waitFor(
    async () => {
      const rows = await server.deps.stores.authEvents.listForUser(userId, 100)
      if (!rows.some((row) => row.type === type)) throw new Error(`no ${type} event yet`)
      return rows
    },
    { timeout: 5000, interval: 20 },
  )
}

async function eventOf(userId: string, type: string): Promise<AuthEventRecord> {
  const rows = (await eventsOf(userId, type)).filter((row) => row.type === type)
  expect(rows, `${type} events`).toHaveLength(1)
  return rows[0] as AuthEventRecord
}

async function registerWithAgent(): Promise<Registered> {
  const email = uniqueEmail('audit')
  const response = await post('/auth/register', { email, password: PASSWORD, tokenDelivery: 'body' })
  expect(response.statusCode).toBe(201)
  const body = json<{ user: { id: string }; accessToken: string; refreshToken: string }>(response)
  return {
    email,
    password: PASSWORD,
    userId: body.user.id,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    response,
  }
}

describe('the audit log', () => {
  it('records a registration with user, session, address and user agent', async () => {
    const user = await registerWithAgent()
    const row = await eventOf(user.userId, 'register')
    expect(row).toMatchObject({
      userId: user.userId,
      sessionId: sessionOf(user.accessToken),
      ip: '127.0.0.1',
      userAgent: USER_AGENT,
    })
    expect(row.createdAt.getTime()).toBe(server.clock.now().getTime())
  })

  it('records logins, a failed one with the reason and never the password', async () => {
    const user = await registerWithAgent()
    const wrong = 'not the password at all 9'
    expect((await post('/auth/login', { email: user.email, password: wrong })).statusCode).toBe(401)
    const ok = await post('/auth/login', { email: user.email, password: PASSWORD, tokenDelivery: 'body' })
    expect(ok.statusCode).toBe(200)

    const succeeded = await eventOf(user.userId, 'login_succeeded')
    expect(succeeded).toMatchObject({
      sessionId: sessionOf(json<{ accessToken: string }>(ok).accessToken),
      ip: '127.0.0.1',
      userAgent: USER_AGENT,
    })
    const failed = await eventOf(user.userId, 'login_failed')
    expect(failed).toMatchObject({ sessionId: null, ip: '127.0.0.1', detail: { reason: 'wrong_password' } })
    expect(JSON.stringify(failed)).not.toContain(wrong)
  })

  it('records a login to an unknown account without a user and without the typed email', async () => {
    const email = uniqueEmail('ghost')
    expect((await post('/auth/login', { email, password: PASSWORD })).statusCode).toBe(401)
    const rows = await vi.waitFor(async () => {
      const found = await server.database.handle.db
        .selectFrom('auth_events')
        .selectAll()
        .where('type', '=', 'login_failed')
        .where('user_id', 'is', null)
        .execute()
      if (found.length === 0) throw new Error('not yet')
      return found
    })
    expect(rows[0]).toMatchObject({ detail: { reason: 'unknown_user' }, ip: '127.0.0.1' })
    expect(JSON.stringify(rows)).not.toContain(email)
    expect(JSON.stringify(rows)).not.toContain(PASSWORD)
  })

  it('records a logout with the session it ended, once', async () => {
    const user = await registerWithAgent()
    for (let i = 0; i < 2; i++) {
      expect((await post('/auth/logout', { refreshToken: user.refreshToken })).statusCode).toBe(204)
    }
    expect(await eventOf(user.userId, 'logout')).toMatchObject({
      sessionId: sessionOf(user.accessToken),
      userAgent: USER_AGENT,
    })
  })

  it('records a refresh-token replay after the grace window, and no ordinary refresh', async () => {
    const user = await registerWithAgent()
    expect((await post('/auth/refresh', { refreshToken: user.refreshToken })).statusCode).toBe(200)
    server.clock.advance(11)
    const replay = await post(
      '/auth/refresh',
      { refreshToken: user.refreshToken },
      { 'user-agent': 'thief/0.1' },
    )
    expect(replay.json()).toMatchObject({ code: 'REFRESH_TOKEN_REUSED' })
    const rows = await eventsOf(user.userId, 'refresh_reuse_detected')
    expect(rows.find((row) => row.type === 'refresh_reuse_detected')).toMatchObject({
      sessionId: sessionOf(user.accessToken),
      ip: '127.0.0.1',
      userAgent: 'thief/0.1',
    })
    // a refresh every few minutes per client would swamp the table: metrics count it instead
    expect(rows.map((row) => row.type)).not.toContain('refresh')
  })

  it('records a password change with the session it was made from', async () => {
    const user = await registerWithAgent()
    const change = await post(
      '/auth/password',
      { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
      bearer(user.accessToken),
    )
    expect(change.statusCode).toBe(204)
    expect(await eventOf(user.userId, 'password_changed')).toMatchObject({
      sessionId: sessionOf(user.accessToken),
      ip: '127.0.0.1',
      userAgent: USER_AGENT,
      detail: { otherSessionsRevoked: 0 },
    })
  })

  it('records session revocation and logout-all', async () => {
    const user = await registerWithAgent()
    const second = await post('/auth/login', { email: user.email, password: PASSWORD, tokenDelivery: 'body' })
    const secondSession = sessionOf(json<{ accessToken: string }>(second).accessToken)
    const revoke = await server.app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${secondSession}`,
      headers: bearer(user.accessToken),
    })
    expect(revoke.statusCode).toBe(204)
    expect(await eventOf(user.userId, 'session_revoked')).toMatchObject({ sessionId: secondSession })
    expect((await post('/auth/logout-all', {}, bearer(user.accessToken))).statusCode).toBe(204)
    expect(await eventOf(user.userId, 'logout_all')).toMatchObject({
      sessionId: sessionOf(user.accessToken),
      detail: { sessions: 1 },
    })
  })

  it('records a reset request, the reset and an email verification', async () => {
    const user = await registerWithAgent()
    const tokenOf = (kind: Mail['kind']) => {
      const mail = mailer.sent.filter((entry) => entry.to === user.email && entry.kind === kind).at(-1)
      return /[?&]token=([A-Za-z0-9_-]+)/.exec(mail?.text ?? '')?.[1] ?? ''
    }
    expect((await post('/auth/verify-email', { token: tokenOf('verify-email') })).statusCode).toBe(204)
    expect(await eventOf(user.userId, 'email_verified')).toMatchObject({ userAgent: USER_AGENT })

    expect((await post('/auth/forgot-password', { email: user.email })).statusCode).toBe(202)
    expect(await eventOf(user.userId, 'password_reset_requested')).toMatchObject({ detail: { mailed: true } })
    const reset = await post('/auth/reset-password', {
      token: tokenOf('reset-password'),
      password: NEW_PASSWORD,
    })
    expect(reset.statusCode).toBe(204)
    expect(await eventOf(user.userId, 'password_reset')).toMatchObject({ detail: { sessionsRevoked: 1 } })
  })

  it('outlives the account it is about', async () => {
    const user = await registerUser(server.app)
    await eventsOf(user.userId, 'register')
    await server.database.handle.db.deleteFrom('users').where('id', '=', user.userId).execute()
    expect(
      (await server.deps.stores.authEvents.listForUser(user.userId, 10)).map((row) => row.type),
    ).toContain('register')
  })
})

describe('retention', () => {
  it('deletes events older than TESSERA_AUDIT_RETENTION, in batches', async () => {
    const store = server.deps.stores.authEvents
    const userId = randomUUID()
    const now = server.clock.now()
    const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000)
    for (const [index, days] of [100, 95, 91, 89, 1].entries()) {
      await store.insert({
        id: randomUUID(),
        type: 'login_failed',
        userId,
        sessionId: null,
        ip: null,
        userAgent: null,
        detail: { index },
        createdAt: daysAgo(days),
      })
    }
    expect(server.config.auditRetention).toBe(90 * 86_400)
    expect(await pruneAuditLog({ store, clock: server.clock, config: server.config })).toBe(3)
    expect((await store.listForUser(userId, 10)).map((row) => row.detail)).toEqual([
      { index: 4 },
      { index: 3 },
    ])
    expect(await store.deleteOlderThan(now, 1)).toBeGreaterThanOrEqual(2)
    expect(await store.listForUser(userId, 10)).toEqual([])
  })
})

describe('a failing audit write', () => {
  it('does not fail the login; it is counted and logged at warn with the event', async () => {
    const warnings: string[] = []
    const logger: Logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) })
    const clock = testClock()
    const metrics = createMetrics({ clock })
    const events = createEventRecorder({
      // throws at once, not even a rejected promise: the flow must still not see it
      store: {
        insert: () => {
          throw new Error('disk full')
        },
      },
      clock,
      logger,
      metrics,
    })
    const broken = await startTestServer({ TESSERA_METRICS_TOKEN: METRICS_TOKEN }, clock, { events, metrics })
    try {
      const user = await registerUser(broken.app)
      const login = await broken.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: PASSWORD },
      })
      expect(login.statusCode).toBe(200)
      await events.flush()
      const text = await scrape(broken.app)
      expect(sampleValue(text, 'tessera_audit_write_failures_total')).toBe(2)
      expect(sampleValue(text, 'tessera_auth_events_total', { type: 'login_succeeded' })).toBe(1)
      const logged = warnings.map((line) => JSON.parse(line) as Record<string, unknown>)
      expect(logged.map((entry) => entry.msg)).toEqual(['audit event not written', 'audit event not written'])
      expect(logged[1]).toMatchObject({
        level: 40,
        err: { message: 'disk full' },
        auditEvent: { type: 'login_succeeded', userId: user.userId },
      })
    } finally {
      await broken.close()
    }
  })
})
