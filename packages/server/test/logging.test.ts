import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger, redactUrl } from '../src/logging.js'
import type { Mail } from '../src/mail/mail.js'
import { testClock } from './helpers/clock.js'
import { recordingMailer } from './helpers/mail.js'
import { cookiesOf, json, PASSWORD, startTestServer, type TestServer, uniqueEmail } from './helpers/server.js'

const WRONG_PASSWORD = 'not the password at all 7'
const NEW_PASSWORD = 'a brand new passphrase 42'
const FOREIGN_COOKIE = 'session-of-another-app-5f2b9c'

const tokenIn = (mail: Mail | undefined): string => {
  const match = /[?&]token=([A-Za-z0-9_-]+)/.exec(mail?.text ?? '')
  if (!match?.[1]) throw new Error(`no token link in ${mail?.text}`)
  return match[1]
}

const lines: string[] = []
const mailer = recordingMailer()
let server: TestServer
const secrets: Record<string, string> = {}

const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url, payload, headers })

const refreshCookie = (response: LightMyRequestResponse): string => {
  const value = cookiesOf(response).get('tessera_refresh')?.value
  if (!value) throw new Error(`no refresh cookie: ${response.statusCode} ${response.body}`)
  return value
}

beforeAll(async () => {
  const logger = createLogger({ logLevel: 'trace' }, { write: (line: string) => lines.push(line) })
  server = await startTestServer({}, testClock(), { logger, mailer })
  // a bug: the 500 path must log the error and the request id, not the request's credentials
  server.app.post('/test/boom', async () => {
    throw new Error('boom')
  })

  const email = uniqueEmail('logging')
  const registered = await post('/auth/register', { email, password: PASSWORD, tokenDelivery: 'body' })
  expect(registered.statusCode).toBe(201)
  const body = json<{ accessToken: string; refreshToken: string }>(registered)
  secrets.password = PASSWORD
  secrets.accessToken = body.accessToken
  secrets.refreshTokenBody = body.refreshToken
  secrets.verifyToken = tokenIn(mailer.sent.find((mail) => mail.kind === 'verify-email'))

  const login = await post('/auth/login', { email, password: PASSWORD })
  expect(login.statusCode).toBe(200)
  secrets.accessToken2 = json<{ accessToken: string }>(login).accessToken
  secrets.refreshCookie = refreshCookie(login)

  const wrong = await post('/auth/login', { email, password: WRONG_PASSWORD })
  expect(wrong.statusCode).toBe(401)
  secrets.wrongPassword = WRONG_PASSWORD

  const byCookie = await post('/auth/refresh', {}, { cookie: `tessera_refresh=${secrets.refreshCookie}` })
  expect(byCookie.statusCode).toBe(200)
  secrets.refreshCookie2 = refreshCookie(byCookie)

  const byBody = await post('/auth/refresh', { refreshToken: secrets.refreshTokenBody })
  expect(byBody.statusCode).toBe(200)
  secrets.refreshTokenBody2 = json<{ refreshToken: string }>(byBody).refreshToken

  const me = await server.app.inject({
    method: 'GET',
    url: '/auth/me',
    headers: { authorization: `Bearer ${secrets.accessToken}`, cookie: `other=${FOREIGN_COOKIE}` },
  })
  expect(me.statusCode).toBe(200)
  secrets.foreignCookie = FOREIGN_COOKIE

  const boom = await post(
    '/test/boom',
    { password: PASSWORD },
    { authorization: `Bearer ${secrets.accessToken2}`, cookie: `tessera_refresh=${secrets.refreshCookie2}` },
  )
  expect(boom.statusCode).toBe(500)

  const verifyPage = await server.app.inject({ url: `/verify-email?token=${secrets.verifyToken}` })
  expect(verifyPage.statusCode).toBe(200)
  expect((await post('/auth/verify-email', { token: secrets.verifyToken })).statusCode).toBe(204)

  expect((await post('/auth/logout', { refreshToken: secrets.refreshTokenBody2 })).statusCode).toBe(204)
  const cookieLogout = await post('/auth/logout', {}, { cookie: `tessera_refresh=${secrets.refreshCookie2}` })
  expect(cookieLogout.statusCode).toBe(204)

  expect((await post('/auth/forgot-password', { email })).statusCode).toBe(202)
  secrets.resetToken = tokenIn(mailer.sent.find((mail) => mail.kind === 'reset-password'))
  const resetPage = await server.app.inject({ url: `/reset-password?token=${secrets.resetToken}&x=1` })
  expect(resetPage.statusCode).toBe(200)
  const reset = await post('/auth/reset-password', { token: secrets.resetToken, password: NEW_PASSWORD })
  expect(reset.statusCode).toBe(204)
  secrets.newPassword = NEW_PASSWORD
})
afterAll(() => server.close())

describe('logs', () => {
  it('were written at trace level for every request', () => {
    expect(lines.length).toBeGreaterThan(20)
    expect(lines.join('')).toContain('"msg":"incoming request"')
  })

  it.each([
    'password',
    'wrongPassword',
    'newPassword',
    'accessToken',
    'accessToken2',
    'refreshTokenBody',
    'refreshTokenBody2',
    'refreshCookie',
    'refreshCookie2',
    'foreignCookie',
    'verifyToken',
    'resetToken',
  ])('never contain the %s', (name) => {
    const secret = secrets[name]
    expect(secret, `${name} was captured`).toBeTruthy()
    expect(lines.join('')).not.toContain(secret)
  })

  it('carry a request id on every request line, and on the 500', () => {
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    const requestLines = entries.filter((entry) => entry.msg === 'incoming request')
    expect(requestLines.length).toBeGreaterThan(10)
    for (const entry of requestLines) expect(entry.reqId).toMatch(/^[0-9a-f-]{36}$/)
    const failure = entries.find((entry) => entry.msg === 'unhandled error')
    expect(failure?.reqId).toMatch(/^[0-9a-f-]{36}$/)
    expect(JSON.stringify(failure)).toContain('boom')
  })

  it('show page URLs with the token redacted, other parameters kept', () => {
    const urls = lines
      .map((line) => JSON.parse(line) as { req?: { url?: string } })
      .map((entry) => entry.req?.url)
      .filter((url): url is string => url?.startsWith('/reset-password?') ?? false)
    expect(urls).toContain('/reset-password?token=[redacted]&x=1')
  })
})

describe('redactUrl', () => {
  it('redacts secret-looking query values, whatever their case or escaping', () => {
    expect(redactUrl('/a?token=abc')).toBe('/a?token=[redacted]')
    expect(redactUrl('/a?Refresh_Token=abc&next=%2Fx')).toBe('/a?Refresh_Token=[redacted]&next=%2Fx')
    expect(redactUrl('/a?%74oken=abc')).toBe('/a?%74oken=[redacted]')
    expect(redactUrl('/a?page=2')).toBe('/a?page=2')
    expect(redactUrl('/plain')).toBe('/plain')
  })
})
