import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { changeRoles } from '../../src/flows/manage-users.js'
import { testClock } from '../helpers/clock.js'
import { recordingMailer } from '../helpers/mail.js'
import {
  bearer,
  json,
  PASSWORD,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'
import { waitFor } from '../helpers/wait.js'
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhooks.js'
import { codeAt, enrolledUser, verifiedUser } from '../mfa/mfa-helpers.js'
import { METRICS_TOKEN, sampleValue, scrape } from '../observability/scrape.js'
import { addPasskey, passkeyLogin } from '../passkeys/passkey-helpers.js'

const NEW_PASSWORD = 'a brand new passphrase 42'

let server: TestServer | undefined
let receiver: WebhookReceiver | undefined
afterEach(async () => {
  await server?.close()
  await receiver?.stop()
  server = undefined
  receiver = undefined
})

/** A server whose webhooks go to a fresh verifying receiver; delivery is driven by `deliver()`. */
async function setUp(env: Record<string, string> = {}, mailer = recordingMailer()) {
  const secret = newWebhookSecret()
  const clock = testClock()
  // the receiver verifies at the server's clock
  receiver = await startWebhookReceiver(secret, () => clock.now())
  server = await startTestServer(
    { TESSERA_WEBHOOK_URL: receiver.url, TESSERA_WEBHOOK_SECRET: secret, ...env },
    clock,
    { mailer },
  )
  return { server, receiver, mailer, secret }
}

async function deliver(on: TestServer) {
  if (!on.webhooks) throw new Error('webhooks are not configured')
  return on.webhooks.deliverDue()
}

const outboxRows = async (on: TestServer) => {
  const { rows } = await sql<{
    type: string
    attempts: number
    last_error: string | null
    delivered_at: Date | null
    failed_at: Date | null
  }>`select type, attempts, last_error, delivered_at, failed_at from webhook_outbox order by created_at`.execute(
    on.database.handle.db,
  )
  return rows
}

const post = (on: TestServer, url: string, payload: object, token?: string) =>
  on.app.inject({ method: 'POST', url, payload, ...(token ? { headers: bearer(token) } : {}) })

describe('webhook events', () => {
  it('sends register, login, password change and logout as signed events with their data', async () => {
    const { server, receiver } = await setUp()
    const user = await registerUser(server.app)
    const login = await post(server, '/auth/login', {
      email: user.email,
      password: PASSWORD,
      tokenDelivery: 'body',
    })
    const second = json<{ sessionId?: string; refreshToken: string; accessToken: string }>(login)
    // the change leaves the other session (the registration's) revoked
    const changed = await post(
      server,
      '/auth/password',
      { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
      second.accessToken,
    )
    expect(changed.statusCode).toBe(204)
    const logout = await post(server, '/auth/logout', { refreshToken: second.refreshToken })
    expect(logout.statusCode).toBe(204)
    // nothing is sent on the request path
    expect(receiver.received).toHaveLength(0)

    const report = await deliver(server)
    expect(report).toEqual({ delivered: 6, retried: 0, failed: 0 })
    expect(receiver.received.every((request) => request.verifyError === undefined)).toBe(true)
    const events = receiver.accepted()
    expect(events.map((event) => event.type).sort()).toEqual(
      [
        'user.created',
        'session.created',
        'session.created',
        'password.changed',
        'session.revoked',
        'session.revoked',
      ].sort(),
    )
    const created = events.find((event) => event.type === 'user.created')
    expect(created?.data).toEqual({
      user: {
        id: user.userId,
        email: user.email,
        name: null,
        roles: ['user'],
        emailVerified: false,
        disabled: false,
        createdAt: server.clock.now().toISOString(),
      },
      via: 'register',
    })
    expect(created?.timestamp).toBe(server.clock.now().toISOString())
    const sessions = events.filter((event) => event.type === 'session.created')
    for (const event of sessions) {
      expect(event.data).toMatchObject({ session: { userId: user.userId }, amr: ['pwd'] })
    }
    const revoked = events
      .filter((event) => event.type === 'session.revoked')
      .map((event) => (event.data as { reason: string }).reason)
    expect(revoked.sort()).toEqual(['logout', 'password_changed'])
    expect(events.find((event) => event.type === 'password.changed')?.data).toMatchObject({
      user: { id: user.userId },
      via: 'change',
    })

    // the headers of Standard Webhooks; no secret, hash or token in any body
    for (const request of receiver.received) {
      expect(request.headers['webhook-id']).toMatch(/^msg_[\w-]{22}$/)
      expect(request.headers['content-type']).toBe('application/json')
      expect(request.body).not.toMatch(/argon2|\$2[aby]\$|refreshToken|accessToken|password"/i)
      expect(request.body).not.toContain(user.refreshToken)
    }
    expect(new Set(receiver.received.map((request) => request.headers['webhook-id'])).size).toBe(6)
    // delivered events are not sent again
    expect(await deliver(server)).toEqual({ delivered: 0, retried: 0, failed: 0 })
  })

  it('sends email.verified, password.changed by reset, and mfa.enabled / mfa.disabled', async () => {
    const { server, receiver, mailer } = await setUp()
    const user = await registerUser(server.app)
    const link = mailer.sent.at(-1)?.text.match(/token=([\w-]+)/)?.[1]
    expect((await post(server, '/auth/verify-email', { token: link })).statusCode).toBe(204)
    await post(server, '/auth/forgot-password', { email: user.email })
    const reset = mailer.sent.at(-1)?.text.match(/token=([\w-]+)/)?.[1]
    expect(
      (await post(server, '/auth/reset-password', { token: reset, password: NEW_PASSWORD })).statusCode,
    ).toBe(204)
    const enrolled = await enrolledUser(server)
    const off = await server.app.inject({
      method: 'DELETE',
      url: '/auth/mfa/totp',
      headers: bearer(enrolled.accessToken),
      payload: { code: codeAt(enrolled.secret, server) },
    })
    expect(off.statusCode).toBe(204)

    await deliver(server)
    const events = receiver.accepted()
    // sent in parallel: in any order
    const ofUser = (id: string) =>
      events
        .filter((event) => (event.data as { user?: { id: string } }).user?.id === id)
        .sort((a, b) => a.type.localeCompare(b.type))
    expect(ofUser(user.userId).map((event) => event.type)).toEqual([
      'email.verified',
      'password.changed',
      'user.created',
    ])
    expect(ofUser(user.userId)[0]?.data).toMatchObject({ user: { emailVerified: true }, via: 'link' })
    expect(ofUser(user.userId)[1]?.data).toMatchObject({ via: 'reset' })
    // the reset revoked the registration's session
    expect(
      events.filter(
        (event) =>
          event.type === 'session.revoked' &&
          (event.data as { reason: string; session: { userId: string } }).reason === 'password_reset',
      ),
    ).toHaveLength(1)
    const mfa = ofUser(enrolled.userId).filter((event) => event.type.startsWith('mfa.'))
    expect(mfa.map((event) => [event.type, (event.data as { method: string }).method])).toEqual([
      ['mfa.disabled', 'totp'],
      ['mfa.enabled', 'totp'],
    ])
  })

  it('sends mfa.enabled and mfa.disabled for a passkey added and removed, and session.created for a passkey sign-in', async () => {
    const { server, receiver } = await setUp()
    const user = await verifiedUser(server)
    const { authenticator, id } = await addPasskey(server, user)
    const signedIn = await passkeyLogin(server, authenticator)
    expect(signedIn.statusCode).toBe(200)
    const removed = await server.app.inject({
      method: 'DELETE',
      url: `/auth/passkeys/${id}`,
      headers: bearer(user.accessToken),
    })
    expect(removed.statusCode).toBe(204)
    await deliver(server)
    const events = receiver.accepted()
    // sent in parallel: in any order
    const mfa = events
      .filter((event) => event.type.startsWith('mfa.'))
      .sort((a, b) => a.type.localeCompare(b.type))
    expect(mfa.map((event) => [event.type, event.data])).toEqual([
      ['mfa.disabled', expect.objectContaining({ method: 'passkey', passkeyId: id })],
      ['mfa.enabled', expect.objectContaining({ method: 'passkey', passkeyId: id })],
    ])
    const passkeySession = events.find(
      (event) =>
        event.type === 'session.created' &&
        (event.data as { amr: string[] }).amr.some((amr) => amr !== 'pwd'),
    )
    expect(passkeySession?.data).toMatchObject({ session: { userId: user.userId } })
  })

  it('sends email.verified and session.revoked when a magic link takes over an unverified account', async () => {
    const { server, receiver, mailer } = await setUp({ TESSERA_MAGIC_LINK: 'on' })
    const user = await registerUser(server.app)
    expect((await post(server, '/auth/magic-link', { email: user.email })).statusCode).toBe(202)
    const token = mailer.sent.at(-1)?.text.match(/token=([\w-]+)/)?.[1]
    const signedIn = await post(server, '/auth/magic-link/verify', { token, tokenDelivery: 'body' })
    expect(signedIn.statusCode).toBe(200)
    await deliver(server)
    const events = receiver.accepted()
    expect(events.find((event) => event.type === 'email.verified')?.data).toMatchObject({
      user: { id: user.userId, emailVerified: true },
      via: 'magic_link',
      passwordRemoved: true,
    })
    expect(
      events.filter((event) => event.type === 'session.revoked').map((event) => event.data.reason),
    ).toEqual(['magic_link_takeover'])
    expect(events.filter((event) => event.type === 'session.created')).toHaveLength(2)
  })

  it('sends session.revoked when a replayed refresh token revokes its session', async () => {
    const { server, receiver } = await setUp({ TESSERA_REFRESH_REUSE_GRACE: '10s' })
    const user = await registerUser(server.app)
    expect((await refreshWith(server.app, user.refreshToken)).statusCode).toBe(200)
    server.clock.advance(11)
    expect(json(await refreshWith(server.app, user.refreshToken)).code).toBe('REFRESH_TOKEN_REUSED')
    await deliver(server)
    const revoked = receiver.accepted().filter((event) => event.type === 'session.revoked')
    expect(revoked.map((event) => event.data)).toEqual([
      { session: { id: expect.any(String), userId: user.userId }, reason: 'refresh_token_reused' },
    ])
  })

  it('sends the admin API and self-service changes: created, updated, disabled, enabled, deleted, an email change', async () => {
    const { server, receiver, mailer } = await setUp()
    const adminUser = await registerUser(server.app, uniqueEmail('admin'))
    await changeRoles(server.deps, adminUser.email, { add: ['admin'], remove: [] })
    const adminToken = json<{ accessToken: string }>(
      await post(server, '/auth/login', {
        email: adminUser.email,
        password: PASSWORD,
        tokenDelivery: 'body',
      }),
    ).accessToken
    const send = (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, token = adminToken) =>
      server.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) })

    const created = await send('POST', '/admin/users', { email: uniqueEmail('made'), roles: ['user'] })
    expect(created.statusCode).toBe(201)
    const made = json<{ user: { id: string } }>(created).user
    expect((await send('PATCH', `/admin/users/${made.id}`, { roles: ['user', 'editor'] })).statusCode).toBe(
      200,
    )
    // repeating the values changes nothing, and sends nothing
    expect((await send('PATCH', `/admin/users/${made.id}`, { roles: ['user', 'editor'] })).statusCode).toBe(
      200,
    )
    expect((await send('POST', `/admin/users/${made.id}/disable`)).statusCode).toBe(204)
    expect((await send('POST', `/admin/users/${made.id}/enable`)).statusCode).toBe(204)
    expect((await send('DELETE', `/admin/users/${made.id}`)).statusCode).toBe(204)

    const self = await registerUser(server.app)
    expect((await send('PATCH', '/auth/me', { name: 'Ada' }, self.accessToken)).statusCode).toBe(200)
    const newEmail = uniqueEmail('moved')
    expect(
      (await send('POST', '/auth/email', { newEmail, password: PASSWORD }, self.accessToken)).statusCode,
    ).toBe(202)
    const token = mailer.sent.find((mail) => mail.to === newEmail)?.text.match(/token=([\w-]+)/)?.[1]
    expect((await post(server, '/auth/email/confirm', { token })).statusCode).toBe(204)

    await deliver(server)
    const events = receiver.accepted()
    const ofUser = (id: string) =>
      events
        .filter((event) => (event.data as { user?: { id: string } }).user?.id === id)
        .map(
          (event) =>
            [
              event.type,
              event.data as { via?: string; changed?: string[]; user: { email: string } },
            ] as const,
        )
    const madeEvents = ofUser(made.id)
    expect(madeEvents.map(([type]) => type).sort()).toEqual([
      'user.created',
      'user.deleted',
      'user.disabled',
      'user.enabled',
      'user.updated',
    ])
    expect(madeEvents.find(([type]) => type === 'user.created')?.[1].via).toBe('admin')
    expect(madeEvents.find(([type]) => type === 'user.updated')?.[1].changed).toEqual(['roles'])
    const selfEvents = ofUser(self.userId).filter(([type]) => type !== 'user.created')
    expect(selfEvents.map(([type, data]) => [type, data.changed ?? data.via]).sort()).toEqual([
      ['email.verified', 'email_change'],
      ['user.updated', ['email', 'emailVerified']],
      ['user.updated', ['name']],
    ])
    expect(selfEvents.find(([type]) => type === 'email.verified')?.[1].user.email).toBe(newEmail)
  })

  it('writes no event for a change that did not commit: a taken email makes no user.created', async () => {
    const { server, receiver } = await setUp()
    const user = await registerUser(server.app)
    const taken = await post(server, '/auth/register', { email: user.email, password: PASSWORD })
    expect(json(taken).code).toBe('EMAIL_TAKEN')
    const wrong = await post(
      server,
      '/auth/password',
      { currentPassword: 'wrong', newPassword: NEW_PASSWORD },
      user.accessToken,
    )
    expect(json(wrong).code).toBe('INVALID_CREDENTIALS')
    expect((await outboxRows(server)).map((row) => row.type)).toEqual(['user.created', 'session.created'])
    // a transaction that enqueued, then failed, leaves nothing behind
    await expect(
      server.deps.stores.transaction(async (tx) => {
        await tx.webhooks.enqueue({ type: 'user.deleted', data: { user: { id: user.userId } as never } })
        throw new Error('rolled back')
      }),
    ).rejects.toThrow('rolled back')
    await deliver(server)
    expect(
      receiver
        .accepted()
        .map((event) => event.type)
        .sort(),
    ).toEqual(['session.created', 'user.created'])
  })

  it('opens no session and sends no session.created for a password that still needs its second factor', async () => {
    const { server } = await setUp()
    const user = await enrolledUser(server)
    const before = await server.deps.stores.sessions.listLive(user.userId, server.clock.now())
    const outboxBefore = (await outboxRows(server)).length
    const response = await post(server, '/auth/login', {
      email: user.email,
      password: user.password,
      tokenDelivery: 'body',
    })
    expect(response.statusCode).toBe(200)
    expect(json(response)).toHaveProperty('mfaToken')
    expect(await server.deps.stores.sessions.listLive(user.userId, server.clock.now())).toHaveLength(
      before.length,
    )
    expect(await outboxRows(server)).toHaveLength(outboxBefore)
  })

  it('writes nothing to the outbox without TESSERA_WEBHOOK_URL', async () => {
    server = await startTestServer()
    expect(server.webhooks).toBeUndefined()
    const user = await registerUser(server.app, uniqueEmail())
    await post(server, '/auth/logout', { refreshToken: user.refreshToken })
    await server.deps.stores.webhooks.enqueue({
      type: 'user.updated',
      data: { user: { id: user.userId } as never },
    })
    expect(await outboxRows(server)).toEqual([])
  })
})

describe('webhook delivery', () => {
  it('retries a receiver that refuses connections and delivers once it is back, by the clock', async () => {
    const { server, receiver } = await setUp()
    await receiver.stop()
    const user = await registerUser(server.app)
    expect(await deliver(server)).toEqual({ delivered: 0, retried: 2, failed: 0 })
    const [first] = await outboxRows(server)
    expect(first).toMatchObject({ attempts: 1, last_error: 'ECONNREFUSED', delivered_at: null })
    await receiver.start()
    // not due yet: the first retry waits about 5 s
    expect(await deliver(server)).toEqual({ delivered: 0, retried: 0, failed: 0 })
    server.clock.advance(7)
    expect(await deliver(server)).toEqual({ delivered: 2, retried: 0, failed: 0 })
    expect(
      receiver
        .accepted()
        .map((event) => event.type)
        .sort(),
    ).toEqual(['session.created', 'user.created'])
    expect(receiver.accepted().find((event) => event.type === 'user.created')?.data).toMatchObject({
      user: { id: user.userId },
    })
    expect((await outboxRows(server)).every((row) => row.attempts === 2 && row.last_error === null)).toBe(
      true,
    )
  })

  it('keeps the webhook-id across attempts and signs each attempt with its own timestamp', async () => {
    const { server, receiver } = await setUp()
    receiver.answer(500)
    await server.deps.stores.transaction((tx) =>
      tx.webhooks.enqueue({ type: 'user.updated', data: { user: { id: 'u1' } as never } }),
    )
    expect(await deliver(server)).toEqual({ delivered: 0, retried: 1, failed: 0 })
    expect((await outboxRows(server))[0]?.last_error).toBe('HTTP 500')
    server.clock.advance(10)
    receiver.answer(204)
    expect(await deliver(server)).toEqual({ delivered: 1, retried: 0, failed: 0 })
    const [one, two] = receiver.received
    expect(one?.verifyError).toBeUndefined()
    expect(two?.verifyError).toBeUndefined()
    expect(two?.headers['webhook-id']).toBe(one?.headers['webhook-id'])
    expect(Number(two?.headers['webhook-timestamp']) - Number(one?.headers['webhook-timestamp'])).toBe(10)
    expect(two?.headers['webhook-signature']).not.toBe(one?.headers['webhook-signature'])
    // the same bytes each time
    expect(two?.body).toBe(one?.body)
  })

  it('bounds an attempt by TESSERA_WEBHOOK_TIMEOUT: a receiver that never answers is retried', async () => {
    const { server, receiver } = await setUp({ TESSERA_WEBHOOK_TIMEOUT: '1s' })
    receiver.answer('never')
    await server.deps.stores.webhooks.enqueue({ type: 'user.updated', data: { user: { id: 'u1' } as never } })
    expect(await deliver(server)).toEqual({ delivered: 0, retried: 1, failed: 0 })
    expect((await outboxRows(server))[0]).toMatchObject({ attempts: 1, last_error: 'no answer within 1 s' })
  })

  it('reads no more than 64 KiB of an answer: a 200 with an endless body counts as delivered', async () => {
    const { server, receiver } = await setUp({ TESSERA_WEBHOOK_TIMEOUT: '5s' })
    receiver.answer('endless')
    await server.deps.stores.webhooks.enqueue({ type: 'user.updated', data: { user: { id: 'u1' } as never } })
    expect(await deliver(server)).toEqual({ delivered: 1, retried: 0, failed: 0 })
    expect((await outboxRows(server))[0]).toMatchObject({ attempts: 1, last_error: null })
  })

  it('hands an attempt under way back when the server stops: due at once, no attempt counted', async () => {
    const { server, receiver } = await setUp()
    receiver.answer('never')
    await server.deps.stores.webhooks.enqueue({ type: 'user.updated', data: { user: { id: 'u1' } as never } })
    const delivering = deliver(server)
    await waitFor(
      () => (receiver.received.length > 0 ? true : undefined),
      'the attempt to reach the receiver',
    )
    await server.webhooks?.stop()
    expect(await delivering).toEqual({ delivered: 0, retried: 0, failed: 0 })
    const { rows } = await sql<{ attempts: number; due: boolean }>`
      select attempts, next_attempt_at <= ${server.clock.now()} as due from webhook_outbox
    `.execute(server.database.handle.db)
    expect(rows).toEqual([{ attempts: 0, due: true }])
  })

  it('gives up after 24 hours of retries, with the attempts spread by backoff', async () => {
    const { server, receiver } = await setUp()
    receiver.answer(500)
    await server.deps.stores.webhooks.enqueue({ type: 'user.updated', data: { user: { id: 'u1' } as never } })
    let steps = 0
    let failed = 0
    while (failed === 0 && steps < 300) {
      failed += (await deliver(server)).failed
      server.clock.advance(900)
      steps++
    }
    expect(failed).toBe(1)
    const [row] = await outboxRows(server)
    // about 17 attempts: 5 s, 15 s, 45 s, … then every 2 h; the last one at the 24-hour mark
    expect(row?.attempts).toBeGreaterThanOrEqual(14)
    expect(row?.attempts).toBeLessThanOrEqual(22)
    expect(receiver.received).toHaveLength(row?.attempts ?? 0)
    expect(row?.failed_at).toBeInstanceOf(Date)
    expect(row?.last_error).toBe('HTTP 500')
    const first = Number(receiver.received[0]?.headers['webhook-timestamp'])
    const last = Number(receiver.received.at(-1)?.headers['webhook-timestamp'])
    expect(last - first).toBeGreaterThanOrEqual(24 * 3600)
    expect(last - first).toBeLessThan(24 * 3600 + 900)
    // given up: never tried again
    server.clock.advance(86_400)
    receiver.answer(204)
    expect(await deliver(server)).toEqual({ delivered: 0, retried: 0, failed: 0 })
  })

  it('counts deliveries, retries and the backlog on /metrics', async () => {
    const { server, receiver } = await setUp({ TESSERA_METRICS_TOKEN: METRICS_TOKEN })
    receiver.answer(500)
    await registerUser(server.app)
    const before = await scrape(server.app)
    expect(sampleValue(before, 'tessera_webhook_backlog')).toBe(2)
    await deliver(server)
    server.clock.advance(10)
    receiver.answer(204)
    await deliver(server)
    const text = await scrape(server.app)
    expect(sampleValue(text, 'tessera_webhook_deliveries_total', { type: 'user.created' })).toBe(1)
    expect(sampleValue(text, 'tessera_webhook_deliveries_total', { type: 'session.created' })).toBe(1)
    expect(sampleValue(text, 'tessera_webhook_retries_total', { type: 'user.created' })).toBe(1)
    expect(sampleValue(text, 'tessera_webhook_failures_total', { type: 'user.created' })).toBe(0)
    expect(sampleValue(text, 'tessera_webhook_backlog')).toBe(0)
    expect(
      sampleValue(text, 'tessera_webhook_delivery_duration_seconds_count', { outcome: 'delivered' }),
    ).toBe(2)
    expect(sampleValue(text, 'tessera_webhook_delivery_duration_seconds_count', { outcome: 'error' })).toBe(2)
  })

  it('housekeeping deletes delivered events after TESSERA_WEBHOOK_RETENTION, and keeps the rest', async () => {
    const { server, receiver } = await setUp({ TESSERA_HOUSEKEEPING: 'on', TESSERA_WEBHOOK_RETENTION: '2d' })
    await registerUser(server.app)
    await deliver(server)
    receiver.answer(500)
    await server.deps.stores.webhooks.enqueue({ type: 'user.updated', data: { user: { id: 'u1' } as never } })
    server.clock.advance(86_400)
    expect((await server.housekeeping?.runOnce())?.status).toBe('done')
    expect(await outboxRows(server)).toHaveLength(3)
    server.clock.advance(86_400 + 1)
    const report = await server.housekeeping?.runOnce()
    expect(report).toMatchObject({ status: 'done', deleted: { webhookOutbox: 2 } })
    expect((await outboxRows(server)).map((row) => row.type)).toEqual(['user.updated'])
  })
})
