import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordingMailer } from '../helpers/mail.js'
import { bearer, PASSWORD, startTestServer, type TestServer, uniqueEmail } from '../helpers/server.js'
import { LIMITS_ON, nextIp, RATE_LIMIT_HEADERS, registerFrom } from './limits-helpers.js'

const mailer = recordingMailer()
let server: TestServer
beforeAll(async () => {
  server = await startTestServer(
    {
      ...LIMITS_ON,
      TESSERA_LIMIT_REGISTER: '2/1h',
      TESSERA_LIMIT_REFRESH: '3/1m',
      TESSERA_LIMIT_MAIL_IP: '5/15m',
      TESSERA_LIMIT_TOKEN: '2/15m',
      TESSERA_LIMIT_PASSWORD_CHANGE: '2/15m',
    },
    undefined,
    { mailer },
  )
})
afterAll(() => server.close())

const post = (url: string, payload: object, ip: string, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url, payload, remoteAddress: ip, headers })

const statusesOf = async (count: number, send: () => Promise<{ statusCode: number }>) => {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) statuses.push((await send()).statusCode)
  return statuses
}

describe('limits per route', () => {
  it('limits registrations per address (TESSERA_LIMIT_REGISTER)', async () => {
    const ip = nextIp()
    const register = () => post('/auth/register', { email: uniqueEmail('reg'), password: PASSWORD }, ip)
    expect(await statusesOf(3, register)).toEqual([201, 201, 429])
    // the refused one made no account
    expect(mailer.sent.filter((mail) => mail.kind === 'verify-email')).toHaveLength(2)
    expect(
      (await post('/auth/register', { email: uniqueEmail('reg'), password: PASSWORD }, nextIp())).statusCode,
    ).toBe(201)
  })

  it('limits forgot-password per email (3 per 15 minutes) and per address (TESSERA_LIMIT_MAIL_IP)', async () => {
    const email = await registerFrom(server.app)
    const sentBefore = mailer.sent.length
    // one email from many addresses: 3, then refused whoever asks
    const perEmail = await statusesOf(4, () => post('/auth/forgot-password', { email }, nextIp()))
    expect(perEmail).toEqual([202, 202, 202, 429])
    expect(mailer.sent.length - sentBefore).toBe(3)
    // an unknown email is counted the same way, so the limit reveals nothing
    const unknown = uniqueEmail('nobody')
    expect(await statusesOf(4, () => post('/auth/forgot-password', { email: unknown }, nextIp()))).toEqual([
      202, 202, 202, 429,
    ])
    // many emails from one address: 5, then refused
    const ip = nextIp()
    const perIp = await statusesOf(6, () => post('/auth/forgot-password', { email: uniqueEmail('x') }, ip))
    expect(perIp).toEqual([202, 202, 202, 202, 202, 429])
  })

  it('limits verify-email/resend like forgot-password, with counts of its own', async () => {
    const email = uniqueEmail('nobody')
    await post('/auth/forgot-password', { email }, nextIp())
    const statuses = await statusesOf(4, () => post('/auth/verify-email/resend', { email }, nextIp()))
    expect(statuses).toEqual([202, 202, 202, 429])
  })

  it('limits refreshes per address (TESSERA_LIMIT_REFRESH), failed ones included', async () => {
    const ip = nextIp()
    const refresh = () => post('/auth/refresh', { refreshToken: 'not-a-token' }, ip)
    const statuses = await statusesOf(4, refresh)
    expect(statuses).toEqual([401, 401, 401, 429])
  })

  it('limits token use (reset-password, verify-email) per address, each route on its own', async () => {
    const ip = nextIp()
    const reset = () =>
      post('/auth/reset-password', { token: 'x'.repeat(43), password: 'another long passphrase 7' }, ip)
    expect(await statusesOf(3, reset)).toEqual([400, 400, 429])
    const verify = () => post('/auth/verify-email', { token: 'x'.repeat(43) }, ip)
    expect(await statusesOf(3, verify)).toEqual([400, 400, 429])
  })

  it('limits password changes per user, from any address, before checking the password', async () => {
    const login = await post(
      '/auth/login',
      { email: await registerFrom(server.app), password: PASSWORD, tokenDelivery: 'body' },
      nextIp(),
    )
    const { accessToken } = login.json<{ accessToken: string }>()
    const change = () =>
      post(
        '/auth/password',
        { currentPassword: 'wrong', newPassword: 'another long passphrase 7' },
        nextIp(),
        bearer(accessToken),
      )
    expect(await statusesOf(3, change)).toEqual([401, 401, 429])
  })
})

describe('every write route under /auth', () => {
  it('is limited: its answers carry RateLimit headers', async () => {
    const email = await registerFrom(server.app)
    const login = await post('/auth/login', { email, password: PASSWORD, tokenDelivery: 'body' }, nextIp())
    const { accessToken } = login.json<{ accessToken: string }>()
    const auth = bearer(accessToken)
    const requests: Array<{
      method: 'POST' | 'DELETE'
      url: string
      payload?: object
      headers?: Record<string, string>
    }> = [
      { method: 'POST', url: '/auth/register', payload: { email: uniqueEmail('r'), password: PASSWORD } },
      { method: 'POST', url: '/auth/login', payload: { email, password: 'wrong' } },
      { method: 'POST', url: '/auth/refresh', payload: { refreshToken: 'x' } },
      { method: 'POST', url: '/auth/logout', payload: {} },
      { method: 'POST', url: '/auth/forgot-password', payload: { email: uniqueEmail('f') } },
      {
        method: 'POST',
        url: '/auth/reset-password',
        payload: { token: 'x', password: 'another long passphrase 7' },
      },
      { method: 'POST', url: '/auth/verify-email', payload: { token: 'x' } },
      { method: 'POST', url: '/auth/verify-email/resend', payload: { email: uniqueEmail('v') } },
      {
        method: 'POST',
        url: '/auth/password',
        payload: { currentPassword: 'x', newPassword: 'another long passphrase 7' },
        headers: auth,
      },
      { method: 'DELETE', url: `/auth/sessions/${randomUUID()}`, headers: auth },
      { method: 'POST', url: '/auth/logout-all', headers: auth },
    ]
    for (const request of requests) {
      const response = await server.app.inject({ ...request, remoteAddress: nextIp() })
      expect([request.url, response.statusCode]).not.toEqual([request.url, 429])
      for (const header of RATE_LIMIT_HEADERS) {
        expect([request.url, header, response.headers[header] !== undefined]).toEqual([
          request.url,
          header,
          true,
        ])
      }
    }
  })

  it('leaves reads alone', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    for (const header of RATE_LIMIT_HEADERS) expect(response.headers[header]).toBeUndefined()
  })
})
