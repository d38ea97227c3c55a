import { once } from 'node:events'
import { type AddressInfo, connect } from 'node:net'
import { decodeJwt } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { changeRoles, deleteUser, disableUser } from '../../src/flows/manage-users.js'
import { createServiceClient, revokeServiceClient } from '../../src/flows/service-clients.js'
import { revocationEventsTask, runHousekeeping } from '../../src/housekeeping.js'
import { createHousekeepingStore } from '../../src/store/housekeeping.js'
import { createTessera, type Tessera } from '../../src/tessera.js'
import { TEST_REDIS_URL } from '../helpers/database.js'
import {
  bearer,
  json,
  logoutWith,
  PASSWORD,
  refreshWith,
  registerUser,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from '../helpers/server.js'
import { basicAuth, type EventStream, openEventStream } from '../helpers/sse.js'

const ENV: Record<string, string> = TEST_REDIS_URL
  ? { REDIS_URL: TEST_REDIS_URL, TESSERA_REDIS_PREFIX: `t${process.pid}:` }
  : {}

let server: TestServer
let base: string
let subscriber: { id: string; secret: string }
const streams: EventStream[] = []

async function listen(app: TestServer['app']): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

async function subscribe(headers: Record<string, string> = {}, at = base): Promise<EventStream> {
  const stream = await openEventStream(`${at}/auth/revocations`, {
    authorization: basicAuth(subscriber.id, subscriber.secret),
    ...headers,
  })
  streams.push(stream)
  return stream
}

const me = (token: string) => server.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) })

const login = async (email: string) => {
  const response = await server.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password: PASSWORD, tokenDelivery: 'body' },
  })
  return json<{ accessToken: string; refreshToken: string }>(response)
}

const sidOf = (token: string) => String(decodeJwt(token).sid)

beforeAll(async () => {
  server = await startTestServer({ ...ENV }, undefined, { revocationHeartbeatMs: 100 })
  base = await listen(server.app)
  const created = await createServiceClient(server.deps, { name: 'orders-api', scope: 'revocations:read' })
  subscriber = { id: created.client.id, secret: created.secret }
})
afterEach(() => {
  for (const stream of streams.splice(0)) stream.close()
})
afterAll(() => server.close())

describe('GET /auth/revocations: who may subscribe', () => {
  it('refuses a request without credentials with 401 and a Basic challenge', async () => {
    const stream = await openEventStream(`${base}/auth/revocations`)
    expect(stream.status).toBe(401)
    expect(stream.headers.get('www-authenticate')).toBe('Basic realm="tessera"')
    expect(stream.headers.get('content-type')).toContain('application/problem+json')
    expect(JSON.parse(stream.body ?? '')).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' })
  })

  it('refuses a wrong secret, a revoked client and a bearer token alike', async () => {
    const wrong = await openEventStream(`${base}/auth/revocations`, {
      authorization: basicAuth(subscriber.id, `${subscriber.secret.slice(0, -1)}x`),
    })
    expect(wrong.status).toBe(401)
    const revoked = await createServiceClient(server.deps, { name: 'gone', scope: 'revocations:read' })
    await revokeServiceClient(server.deps, revoked.client.id)
    const afterRevoke = await openEventStream(`${base}/auth/revocations`, {
      authorization: basicAuth(revoked.client.id, revoked.secret),
    })
    expect(afterRevoke.status).toBe(401)
    const user = await registerUser(server.app)
    const withBearer = await openEventStream(`${base}/auth/revocations`, bearer(user.accessToken))
    expect(withBearer.status).toBe(401)
  })

  it('refuses a client without the revocations:read scope with 403', async () => {
    const other = await createServiceClient(server.deps, { name: 'introspector', scope: 'introspect' })
    const stream = await openEventStream(`${base}/auth/revocations`, {
      authorization: basicAuth(other.client.id, other.secret),
    })
    expect(stream.status).toBe(403)
    expect(JSON.parse(stream.body ?? '')).toMatchObject({ code: 'FORBIDDEN' })
  })

  it('streams text/event-stream, uncached, with a retry hint and pings', async () => {
    const stream = await subscribe()
    expect(stream.status).toBe(200)
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(stream.headers.get('cache-control')).toBe('no-store')
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff')
    await stream.until((s) => s.messages.filter((m) => m.comment === 'ping').length >= 2)
    expect(stream.messages[0]).toEqual({ retry: '2000' })
  })
})

describe('GET /auth/revocations: what it sends', () => {
  it('sends a session event, live, when a user logs out', async () => {
    const stream = await subscribe()
    await stream.until((s) => s.messages.length > 0)
    const user = await registerUser(server.app)
    const logout = await logoutWith(server.app, user.refreshToken)
    expect(logout.statusCode).toBe(204)
    await stream.until((s) => s.events().some((e) => e.data.sub === user.userId))
    const event = stream.events().find((e) => e.data.sub === user.userId)
    const exp = Number(decodeJwt(user.accessToken).exp)
    expect(event).toMatchObject({
      event: 'session',
      data: { sid: sidOf(user.accessToken), sub: user.userId },
    })
    expect(Number(event?.id)).toBeGreaterThan(0)
    // kept until the last token of the session expires: the one issued just before the logout
    expect(event?.data.until).toBeGreaterThanOrEqual(exp)
    // and Tessera's own routes refuse the token with the new code
    expect(json(await me(user.accessToken))).toMatchObject({ status: 401, code: 'TOKEN_REVOKED' })
  })

  it('sends one session event per session on logout-all, and on a password change for the others', async () => {
    const user = await registerUser(server.app)
    const second = await login(user.email)
    const third = await login(user.email)
    const stream = await subscribe()
    await stream.until((s) => s.messages.length > 0)
    const all = await server.app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: bearer(second.accessToken),
    })
    expect(all.statusCode).toBe(204)
    const sids = [user.accessToken, second.accessToken, third.accessToken].map(sidOf)
    await stream.until((s) => s.events().filter((e) => e.data.sub === user.userId).length === 3)
    expect(
      stream
        .events()
        .filter((e) => e.data.sub === user.userId)
        .map((e) => e.data.sid)
        .sort(),
    ).toEqual([...sids].sort())

    const other = await registerUser(server.app)
    const otherSecond = await login(other.email)
    const changed = await server.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(other.accessToken),
      payload: { currentPassword: PASSWORD, newPassword: 'a different horse battery staple' },
    })
    expect(changed.statusCode).toBe(204)
    await stream.until((s) => s.events().some((e) => e.data.sub === other.userId))
    const forOther = stream.events().filter((e) => e.data.sub === other.userId)
    expect(forOther.map((e) => e.data.sid)).toEqual([sidOf(otherSecond.accessToken)])
    // the session that changed the password lives on
    expect((await me(other.accessToken)).statusCode).toBe(200)
  })

  it('sends a user event when roles change; the old token is stale, a refreshed one carries the new roles', async () => {
    const user = await registerUser(server.app)
    const stream = await subscribe()
    await stream.until((s) => s.messages.length > 0)
    const now = server.clock.now()
    await changeRoles(server.deps, user.email, { add: ['admin'], remove: [] })
    await stream.until((s) => s.events().some((e) => e.data.sub === user.userId))
    const event = stream.events().find((e) => e.data.sub === user.userId)
    const notBefore = Math.floor(now.getTime() / 1000) + 1
    expect(event).toMatchObject({ event: 'user', data: { sub: user.userId, notBefore } })
    expect(event?.data.until).toBe(notBefore + server.config.accessTokenTtl)
    expect(json(await me(user.accessToken))).toMatchObject({ code: 'TOKEN_REVOKED' })

    // in the same second as the change: the new token is dated at notBefore, and passes
    const refreshed = json<{ accessToken: string }>(await refreshWith(server.app, user.refreshToken))
    expect(decodeJwt(refreshed.accessToken)).toMatchObject({ roles: ['user', 'admin'], iat: notBefore })
    expect((await me(refreshed.accessToken)).statusCode).toBe(200)
  })

  it('sends nothing when a role change changes nothing', async () => {
    const user = await registerUser(server.app)
    await changeRoles(server.deps, user.email, { add: ['user'], remove: [] })
    expect((await me(user.accessToken)).statusCode).toBe(200)
  })

  it('sends session and user events when an account is disabled, and a user event when deleted', async () => {
    const user = await registerUser(server.app)
    const stream = await subscribe()
    await stream.until((s) => s.messages.length > 0)
    await disableUser(server.deps, user.email)
    await stream.until((s) => s.events().filter((e) => e.data.sub === user.userId).length === 2)
    expect(
      stream
        .events()
        .filter((e) => e.data.sub === user.userId)
        .map((e) => e.event)
        .sort(),
    ).toEqual(['session', 'user'])
    const deleted = await registerUser(server.app)
    await deleteUser(server.deps, deleted.email)
    await stream.until((s) => s.events().some((e) => e.data.sub === deleted.userId))
    expect(
      stream
        .events()
        .filter((e) => e.data.sub === deleted.userId)
        .map((e) => e.event),
    ).toEqual(['user'])
  })

  it('sends a user event for a revoked service client', async () => {
    const client = await createServiceClient(server.deps, { name: 'billing', scope: 'introspect' })
    const stream = await subscribe()
    await stream.until((s) => s.messages.length > 0)
    await revokeServiceClient(server.deps, client.client.id)
    await stream.until((s) => s.events().some((e) => e.data.sub === client.client.id))
    expect(stream.events().find((e) => e.data.sub === client.client.id)?.event).toBe('user')
  })

  it('sends the events still in force to a new subscriber, then live ones, ids rising', async () => {
    const user = await registerUser(server.app)
    await logoutWith(server.app, user.refreshToken)
    const stream = await subscribe()
    await stream.until((s) => s.events().some((e) => e.data.sub === user.userId))
    const later = await registerUser(server.app)
    await logoutWith(server.app, later.refreshToken)
    await stream.until((s) => s.events().some((e) => e.data.sub === later.userId))
    const ids = stream.events().map((e) => Number(e.id))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(new Set(ids).size).toBe(ids.length)
    expect(stream.events().some((e) => e.event === 'reset')).toBe(false)
  })
})

describe('GET /auth/revocations: resuming', () => {
  it('sends what happened while the subscriber was away, after its Last-Event-ID, and nothing before', async () => {
    const first = await subscribe()
    const before = await registerUser(server.app)
    await logoutWith(server.app, before.refreshToken)
    await first.until((s) => s.events().some((e) => e.data.sub === before.userId))
    const lastId = first.events().at(-1)?.id ?? ''
    first.close()

    const away = await registerUser(server.app)
    await logoutWith(server.app, away.refreshToken)
    const resumed = await subscribe({ 'last-event-id': lastId })
    await resumed.until((s) => s.events().some((e) => e.data.sub === away.userId))
    expect(resumed.events().some((e) => e.data.sub === before.userId)).toBe(false)
    expect(resumed.events().every((e) => BigInt(e.id ?? 0) > BigInt(lastId))).toBe(true)
    expect(resumed.events().some((e) => e.event === 'reset')).toBe(false)
  })

  it('answers reset to a Last-Event-ID it cannot continue from: malformed, or never handed out', async () => {
    for (const lastEventId of ['not-a-number', '99999999999']) {
      const stream = await subscribe({ 'last-event-id': lastEventId })
      await stream.until((s) => s.events().some((e) => e.event === 'reset'))
      const reset = stream.events().find((e) => e.event === 'reset')
      expect(reset?.data).toEqual({ notBefore: Math.floor(server.clock.now().getTime() / 1000) })
      expect(Number(reset?.id)).toBeGreaterThan(0)
      stream.close()
    }
  })
})

describe('the feed across instances and over time', () => {
  let other: Tessera | undefined
  afterAll(async () => {
    await other?.close()
  })

  it('reaches a subscriber of another instance on the same database within a second', async () => {
    const config = parseConfig({
      TESSERA_SECRET: TEST_SECRET,
      TESSERA_RATE_LIMIT: 'off',
      TESSERA_PUBLIC_URL: 'http://localhost:3000',
      TESSERA_HOUSEKEEPING: 'off',
      ...ENV,
      DATABASE_URL: 'memory://',
    })
    other = await createTessera(config, {
      logger: false,
      clock: server.clock,
      database: server.database.handle,
      migrate: false,
    })
    const otherBase = await listen(other.app as TestServer['app'])
    const stream = await subscribe({}, otherBase)
    await stream.until((s) => s.messages.length > 0)
    const user = await registerUser(server.app)
    const started = performance.now()
    await logoutWith(server.app, user.refreshToken)
    await stream.until((s) => s.events().some((e) => e.data.sub === user.userId), 1000)
    expect(performance.now() - started).toBeLessThan(1000)
    // and the other instance's own routes refuse the token too
    const answer = await other.app.inject({
      method: 'GET',
      url: '/auth/me',
      headers: bearer(user.accessToken),
    })
    expect(json(answer)).toMatchObject({ code: 'TOKEN_REVOKED' })
  })

  it('prunes events an hour after their tokens expired; a subscriber resuming from before them gets reset', async () => {
    const user = await registerUser(server.app)
    await logoutWith(server.app, user.refreshToken)
    const stream = await subscribe()
    await stream.until((s) => s.events().some((e) => e.data.sub === user.userId))
    const oldId = stream.events()[0]?.id ?? ''
    stream.close()

    const housekeeping = {
      store: createHousekeepingStore(server.database.handle.db, {
        embedded: server.database.handle.embedded === true,
      }),
      config: server.config,
    }
    // still kept just under an hour after expiry
    server.clock.advance(server.config.accessTokenTtl + 3500)
    let report = await runHousekeeping({
      ...housekeeping,
      clock: server.clock,
      tasks: [revocationEventsTask],
    })
    expect(report).toMatchObject({ status: 'done', deleted: { revocationEvents: 0 } })
    server.clock.advance(200)
    report = await runHousekeeping({ ...housekeeping, clock: server.clock, tasks: [revocationEventsTask] })
    expect(report.status === 'done' && report.deleted.revocationEvents).toBeGreaterThan(0)

    const resumed = await subscribe({ 'last-event-id': oldId })
    await resumed.until((s) => s.events().some((e) => e.event === 'reset'))
    expect(resumed.events().find((e) => e.event === 'reset')?.data).toEqual({
      notBefore: Math.floor(server.clock.now().getTime() / 1000),
    })
    // nothing expired is sent again
    expect(resumed.events().some((e) => e.data.sub === user.userId)).toBe(false)
  })

  it('ends its streams when the server closes, so shutdown does not wait on them', async () => {
    const own = await startTestServer({ ...ENV })
    const ownBase = await listen(own.app)
    const created = await createServiceClient(own.deps, { name: 'x', scope: 'revocations:read' })
    const stream = await openEventStream(`${ownBase}/auth/revocations`, {
      authorization: basicAuth(created.client.id, created.secret),
    })
    streams.push(stream)
    await stream.until((s) => s.messages.length > 0)
    // and a connection that never sent a request does not hold it either
    const idle = connect(Number(new URL(ownBase).port), '127.0.0.1')
    await once(idle, 'connect')
    const closed = once(idle, 'close')
    await own.close()
    await stream.ended
    await closed
  })
})
