import type { LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TesseraError } from '../src/errors.js'
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

const email = uniqueEmail('logging')

beforeAll(async () => {
  const logger = createLogger({ logLevel: 'trace' }, { write: (line: string) => lines.push(line) })
  server = await startTestServer({}, testClock(), { logger, mailer })
  // a bug: the 500 path must log the error and the request id, not the request's credentials
  server.app.post('/test/boom', async () => {
    throw new Error('boom')
  })
  // a broken invariant: its reason is for the log, never the answer
  server.app.post('/test/invariant', async () => {
    throw new TesseraError('INTERNAL', { reason: 'an invariant that broke' })
  })
  // a database error carrying secrets in its SQL parameters (PGlite attaches them to the error)
  server.app.post('/test/db-boom', async () => {
    const row = await server.deps.stores.users.findByEmail(email.toLowerCase())
    await sql`select ${row?.passwordHash ?? ''}::text as hash, ${email}::text as email, 1 / 0 as boom`.execute(
      server.database.handle.db,
    )
  })

  const registered = await post('/auth/register', { email, password: PASSWORD, tokenDelivery: 'body' })
  expect(registered.statusCode).toBe(201)
  const body = json<{ accessToken: string; refreshToken: string }>(registered)
  secrets.password = PASSWORD
  secrets.accessToken = body.accessToken
  secrets.refreshTokenBody = body.refreshToken
  secrets.verifyToken = tokenIn(mailer.sent.find((mail) => mail.kind === 'verify-email'))
  secrets.email = email
  secrets.emailKey = email.toLowerCase()
  secrets.localPart = email.slice(0, email.indexOf('@'))
  const stored = await server.deps.stores.users.findByEmail(email.toLowerCase())
  secrets.passwordHash = stored?.passwordHash ?? ''
  secrets.hashDigest = secrets.passwordHash.split('$').at(-1) ?? ''

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

  const auth = { authorization: `Bearer ${secrets.accessToken}` }
  // every other route, the failures included
  for (const [method, url] of [
    ['GET', '/auth/sessions'],
    ['GET', '/.well-known/jwks.json'],
    ['GET', '/.well-known/openid-configuration'],
    ['GET', '/healthz'],
    ['GET', '/readyz'],
    ['GET', '/openapi.json'],
    ['GET', '/metrics'],
    ['DELETE', '/auth/sessions/%zz'],
    ['TRACE', '/healthz'],
  ] as const) {
    await server.app.inject({ method, url, headers: auth })
  }
  expect((await post('/auth/register', { email, password: PASSWORD })).statusCode).toBe(409)
  expect((await post('/auth/register', { email, password: PASSWORD, name: 'a\u0000b' })).statusCode).toBe(400)
  expect((await post('/auth/login', { email: `${email}\u0000`, password: PASSWORD })).statusCode).toBe(400)
  expect((await post('/auth/login', { email, password: PASSWORD, extra: email })).statusCode).toBe(400)
  const invariant = await post('/test/invariant', {})
  expect(invariant.statusCode).toBe(500)
  expect(invariant.body).not.toContain('an invariant that broke')
  const dbBoom = await post('/test/db-boom', {}, auth)
  expect(dbBoom.statusCode).toBe(500)
  const change = await post(
    '/auth/password',
    { currentPassword: WRONG_PASSWORD, newPassword: NEW_PASSWORD },
    auth,
  )
  expect(change.statusCode).toBe(401)

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

  const again = await post('/auth/login', { email, password: NEW_PASSWORD, tokenDelivery: 'body' })
  const fresh = json<{ accessToken: string; refreshToken: string }>(again)
  secrets.accessToken3 = fresh.accessToken
  const freshAuth = { authorization: `Bearer ${fresh.accessToken}` }
  const changed = await post(
    '/auth/password',
    { currentPassword: NEW_PASSWORD, newPassword: PASSWORD },
    freshAuth,
  )
  expect(changed.statusCode).toBe(204)
  const sessions = await server.app.inject({ url: '/auth/sessions', headers: freshAuth })
  const other = json<{ sessions: { id: string; current: boolean }[] }>(sessions).sessions.find(
    (entry) => !entry.current,
  )
  if (other)
    await server.app.inject({ method: 'DELETE', url: `/auth/sessions/${other.id}`, headers: freshAuth })
  expect((await post('/auth/logout-all', {}, freshAuth)).statusCode).toBe(204)
  expect((await post('/auth/verify-email/resend', { email })).statusCode).toBe(202)
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
    'accessToken3',
    'email',
    'emailKey',
    'localPart',
    'passwordHash',
    'hashDigest',
  ])('never contain the %s', (name) => {
    const secret = secrets[name]
    expect(secret, `${name} was captured`).toBeTruthy()
    expect(lines.join('')).not.toContain(secret)
    // the way JSON writes it too (a Unicode or escaped form)
    expect(lines.join('')).not.toContain(JSON.stringify(secret).slice(1, -1))
  })

  it('log the database error of the failed statement, without its parameters', () => {
    const failure = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === 'unhandled error')
    expect(JSON.stringify(failure)).toContain('division by zero')
  })

  it('carry a request id on every request line, and on the 500', () => {
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    const requestLines = entries.filter((entry) => entry.msg === 'incoming request')
    expect(requestLines.length).toBeGreaterThan(10)
    for (const entry of requestLines) expect(entry.reqId).toMatch(/^[0-9a-f-]{36}$/)
    const failures = entries.filter((entry) => entry.msg === 'unhandled error')
    expect(failures).toHaveLength(3)
    expect(JSON.stringify(failures)).toContain('an invariant that broke')
    for (const failure of failures) expect(failure.reqId).toMatch(/^[0-9a-f-]{36}$/)
    expect(JSON.stringify(failures)).toContain('boom')
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
