import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordingMailer } from '../helpers/mail.js'
import { PASSWORD, startTestServer, type TestServer, uniqueEmail } from '../helpers/server.js'
import {
  LIMITS_ON,
  loginFrom,
  mailedToken,
  nextIp,
  RATE_LIMIT_HEADERS,
  registerFrom,
} from '../limits/limits-helpers.js'
import { codeAt, enrolledUser } from '../mfa/mfa-helpers.js'

const mailer = recordingMailer()
let server: TestServer
beforeAll(async () => {
  server = await startTestServer(
    { ...LIMITS_ON, TESSERA_MAGIC_LINK: 'on', TESSERA_LIMIT_MAIL_IP: '5/15m', TESSERA_LIMIT_TOKEN: '2/15m' },
    undefined,
    { mailer },
  )
})
afterAll(() => server.close())

const post = (url: string, payload: object, ip: string) =>
  server.app.inject({ method: 'POST', url, payload, remoteAddress: ip })

const statusesOf = async (count: number, send: () => Promise<{ statusCode: number }>) => {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) statuses.push((await send()).statusCode)
  return statuses
}

const magicLinks = () => mailer.sent.filter((mail) => mail.kind === 'magic-link').length

describe('magic-link limits', () => {
  it('limits requests per email (3 per 15 minutes), known or unknown, and per address', async () => {
    const email = await registerFrom(server.app)
    const before = magicLinks()
    expect(await statusesOf(4, () => post('/auth/magic-link', { email }, nextIp()))).toEqual([
      202, 202, 202, 429,
    ])
    expect(magicLinks() - before).toBe(3)
    // an unknown email is counted the same way, so the limit reveals nothing
    const unknown = uniqueEmail('nobody')
    expect(await statusesOf(4, () => post('/auth/magic-link', { email: unknown }, nextIp()))).toEqual([
      202, 202, 202, 429,
    ])
    // many emails from one address: 5 (TESSERA_LIMIT_MAIL_IP), then refused
    const ip = nextIp()
    const perIp = await statusesOf(6, () => post('/auth/magic-link', { email: uniqueEmail('x') }, ip))
    expect(perIp).toEqual([202, 202, 202, 202, 202, 429])
    const refused = await post('/auth/magic-link', { email: uniqueEmail('x') }, ip)
    expect(refused.json()).toMatchObject({ code: 'RATE_LIMITED' })
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    for (const header of RATE_LIMIT_HEADERS) expect(refused.headers[header]).toBeDefined()
  })

  it('counts magic links apart from forgot-password', async () => {
    const email = await registerFrom(server.app)
    for (let i = 0; i < 3; i++) await post('/auth/forgot-password', { email }, nextIp())
    expect((await post('/auth/magic-link', { email }, nextIp())).statusCode).toBe(202)
  })

  it('limits verify per address like the other token-use routes (TESSERA_LIMIT_TOKEN)', async () => {
    const email = await registerFrom(server.app)
    await post('/auth/magic-link', { email }, nextIp())
    const token = mailedToken(mailer, email, 'magic-link')
    const ip = nextIp()
    const wrong = () => post('/auth/magic-link/verify', { token: 'A'.repeat(43) }, ip)
    expect(await statusesOf(3, wrong)).toEqual([400, 400, 429])
    // the real token from that address is refused too until the window passes; elsewhere it works
    expect((await post('/auth/magic-link/verify', { token, tokenDelivery: 'body' }, ip)).statusCode).toBe(429)
    expect(
      (await post('/auth/magic-link/verify', { token, tokenDelivery: 'body' }, nextIp())).statusCode,
    ).toBe(200)
  })

  it('signs in during a lockout and ends it, as a password reset does', async () => {
    const email = await registerFrom(server.app)
    const verification = mailedToken(mailer, email, 'verify-email')
    expect((await post('/auth/verify-email', { token: verification }, nextIp())).statusCode).toBe(204)
    // one address per attempt: the per-IP failed-login limit stays out of the way
    for (let i = 0; i < 5; i++) await loginFrom(server.app, nextIp(), email, 'not the password at all 7')
    expect((await loginFrom(server.app, nextIp(), email, PASSWORD)).statusCode).toBe(423)

    await post('/auth/magic-link', { email }, nextIp())
    const token = mailedToken(mailer, email, 'magic-link')
    expect(
      (await post('/auth/magic-link/verify', { token, tokenDelivery: 'body' }, nextIp())).statusCode,
    ).toBe(200)
    // the lock and its failures are gone; the verified account kept its password
    expect((await loginFrom(server.app, nextIp(), email, PASSWORD)).statusCode).toBe(200)
  })

  it('ends the lock of an account with TOTP too, so its code is taken', async () => {
    const user = await enrolledUser(server)
    for (let i = 0; i < 5; i++) await loginFrom(server.app, nextIp(), user.email, 'not the password at all 7')
    expect((await loginFrom(server.app, nextIp(), user.email, PASSWORD)).statusCode).toBe(423)

    await post('/auth/magic-link', { email: user.email }, nextIp())
    const token = mailedToken(mailer, user.email, 'magic-link')
    const first = await post('/auth/magic-link/verify', { token, tokenDelivery: 'body' }, nextIp())
    expect(first.json()).toMatchObject({ status: 'mfa_required' })
    const mfaToken = first.json<{ mfaToken: string }>().mfaToken
    const verified = await post(
      '/auth/mfa/verify',
      { mfaToken, code: codeAt(user.secret, server), tokenDelivery: 'body' },
      nextIp(),
    )
    expect(verified.statusCode).toBe(200)
  })
})
