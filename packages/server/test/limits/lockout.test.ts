import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuthEvent } from '../../src/events.js'
import { recordingMailer } from '../helpers/mail.js'
import { PASSWORD, startTestServer, type TestServer, uniqueEmail } from '../helpers/server.js'
import {
  LIMITS_ON,
  loginFrom,
  mailedToken,
  nextIp,
  RATE_LIMIT_HEADERS,
  registerFrom,
} from './limits-helpers.js'

const NEW_PASSWORD = 'a brand new passphrase 42'

// each failure from an address of its own, so only the account lockout is in play
const failLogin = (app: TestServer['app'], email: string) => loginFrom(app, nextIp(), email, 'wrong password')

async function lock(app: TestServer['app'], email: string): Promise<LightMyRequestResponse> {
  for (let attempt = 1; attempt <= 5; attempt++) expect((await failLogin(app, email)).statusCode).toBe(401)
  return failLogin(app, email)
}

const mailer = recordingMailer()
const events: AuthEvent[] = []
let server: TestServer
beforeAll(async () => {
  server = await startTestServer(LIMITS_ON, undefined, {
    mailer,
    events: { record: (event) => events.push(event) },
  })
})
afterAll(() => server.close())

describe('account lockout', () => {
  it('locks an email after 5 failed logins in a row, with or without an account, alike', async () => {
    const withAccount = await registerFrom(server.app)
    const withoutAccount = uniqueEmail('nobody')
    const locked = [await lock(server.app, withAccount), await lock(server.app, withoutAccount)]

    for (const response of locked) {
      expect(response.statusCode).toBe(423)
      expect(response.json()).toMatchObject({ status: 423, code: 'ACCOUNT_LOCKED' })
      const retryAfter = Number(response.headers['retry-after'])
      expect(retryAfter).toBeGreaterThan(890)
      expect(retryAfter).toBeLessThanOrEqual(900)
    }
    const [a, b] = locked as [LightMyRequestResponse, LightMyRequestResponse]
    expect(a.body).toBe(b.body)
    // the same headers; only the values of those that carry a count or a time may differ
    const varying = new Set(['date', 'retry-after', ...RATE_LIMIT_HEADERS])
    expect(Object.keys(a.headers).sort()).toEqual(Object.keys(b.headers).sort())
    for (const [name, value] of Object.entries(a.headers)) {
      if (!varying.has(name)) expect([name, b.headers[name]]).toEqual([name, value])
    }
    expect(Math.abs(Number(a.headers['retry-after']) - Number(b.headers['retry-after']))).toBeLessThanOrEqual(
      1,
    )

    // the right password does not open a locked account
    expect((await loginFrom(server.app, nextIp(), withAccount, PASSWORD)).statusCode).toBe(423)
    // the lock is recorded once per email, when it starts
    const locks = events.filter((event) => event.type === 'account_locked')
    expect(locks).toHaveLength(2)
    expect(locks[0]).toMatchObject({ detail: { seconds: 900 } })
  })

  it('does not extend a lock with attempts made during it', async () => {
    const email = uniqueEmail('nobody')
    const first = await lock(server.app, email)
    server.clock.advance(2)
    const later = await failLogin(server.app, email)
    expect(later.statusCode).toBe(423)
    expect(Number(later.headers['retry-after'])).toBeLessThan(Number(first.headers['retry-after']))
  })

  it('forgets the failures after a successful login', async () => {
    const email = await registerFrom(server.app)
    for (let attempt = 1; attempt <= 4; attempt++)
      expect((await failLogin(server.app, email)).statusCode).toBe(401)
    expect((await loginFrom(server.app, nextIp(), email, PASSWORD)).statusCode).toBe(200)
    for (let attempt = 1; attempt <= 4; attempt++)
      expect((await failLogin(server.app, email)).statusCode).toBe(401)
    expect((await loginFrom(server.app, nextIp(), email, PASSWORD)).statusCode).toBe(200)
  })

  it('keeps forgot-password working during a lock, and a password reset ends the lock', async () => {
    const email = await registerFrom(server.app)
    expect((await lock(server.app, email)).statusCode).toBe(423)

    const forgot = await server.app.inject({
      method: 'POST',
      url: '/auth/forgot-password',
      payload: { email },
      remoteAddress: nextIp(),
    })
    expect(forgot.statusCode).toBe(202)
    const token = mailedToken(mailer, email, 'reset-password')
    const reset = await server.app.inject({
      method: 'POST',
      url: '/auth/reset-password',
      payload: { token, password: NEW_PASSWORD },
      remoteAddress: nextIp(),
    })
    expect(reset.statusCode).toBe(204)
    expect((await loginFrom(server.app, nextIp(), email, NEW_PASSWORD)).statusCode).toBe(200)
  })

  it('locks no one for parallel failures beyond the threshold: each email still gets 5 checks', async () => {
    const email = await registerFrom(server.app)
    const answers = await Promise.all(Array.from({ length: 10 }, () => failLogin(server.app, email)))
    const statuses = answers.map((response) => response.statusCode)
    expect(statuses.filter((status) => status === 401)).toHaveLength(5)
    expect(statuses.filter((status) => status === 423)).toHaveLength(5)
  })
})

describe('a lock that ends', () => {
  let short: TestServer
  beforeAll(async () => {
    short = await startTestServer({ ...LIMITS_ON, TESSERA_LOCKOUT_DURATION: '3s' })
  })
  afterAll(() => short.close())

  it('opens the account again once TESSERA_LOCKOUT_DURATION has passed, attempts during it notwithstanding', async () => {
    const email = await registerFrom(short.app)
    expect((await lock(short.app, email)).statusCode).toBe(423)
    short.clock.advance(1)
    // a failure during the lock does not move its end
    expect((await failLogin(short.app, email)).statusCode).toBe(423)
    short.clock.advance(1)
    const lastSecond = await loginFrom(short.app, nextIp(), email, PASSWORD)
    expect([lastSecond.statusCode, lastSecond.headers['retry-after']]).toEqual([423, '1'])
    short.clock.advance(1)
    expect((await loginFrom(short.app, nextIp(), email, PASSWORD)).statusCode).toBe(200)
  })
})
