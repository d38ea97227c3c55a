import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
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
import { type ReceivedMail, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js'

const NEW_PASSWORD = 'a brand new passphrase 42'

let smtp: TestSmtpServer
let server: TestServer
beforeAll(async () => {
  smtp = await startSmtpServer()
  server = await startTestServer({
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Tessera <auth@example.com>',
    // links are built from these, never from the request's Host
    TESSERA_PUBLIC_URL: 'https://auth.example.com',
  })
})
afterAll(async () => {
  await server.close()
  await smtp.close()
})
afterEach(() => server.deps.mailer.idle())

const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url, payload, headers })

/** The mails that reached the SMTP server for `to`, once every queued mail went out. */
async function mailsTo(to: string): Promise<ReceivedMail[]> {
  await server.deps.mailer.idle()
  return smtp.messages.filter((mail) => mail.to.toLowerCase().includes(to.toLowerCase()))
}

/** The token of the last link to `base` in the last mail to `to`. */
async function tokenFrom(to: string, base: string): Promise<string> {
  const mails = await mailsTo(to)
  const last = mails.at(-1)
  if (!last) throw new Error(`no mail to ${to}`)
  const links = [...last.text.matchAll(/https?:\/\/\S+/g)].map((match) => new URL(match[0]))
  const link = links.find((url) => url.href.startsWith(base) && url.searchParams.has('token'))
  if (!link) throw new Error(`no link to ${base} in: ${last.text}`)
  return link.searchParams.get('token') ?? ''
}

const resetBase = 'https://auth.example.com/reset-password'
const verifyBase = 'https://auth.example.com/verify-email'

describe('password reset', () => {
  it('mails a link built from the public URL, not the Host header; the link resets once', async () => {
    const user = await registerUser(server.app)
    const forgot = await post(
      '/auth/forgot-password',
      { email: user.email.toUpperCase() },
      { host: 'evil.example', 'x-forwarded-host': 'evil.example' },
    )
    expect(forgot.statusCode).toBe(202)
    const mails = await mailsTo(user.email)
    const resetMail = mails.at(-1)
    expect(resetMail?.subject).toMatch(/reset/i)
    expect(resetMail?.from).toContain('auth@example.com')
    expect(resetMail?.text).not.toContain('evil.example')
    expect(resetMail?.html).toContain(resetBase)
    const token = await tokenFrom(user.email, resetBase)

    const reset = await post('/auth/reset-password', { token, password: NEW_PASSWORD })
    expect(reset.statusCode).toBe(204)
    // the new password works, the old one does not; the reset did not sign anyone in
    expect(reset.cookies).toHaveLength(0)
    expect((await post('/auth/login', { email: user.email, password: NEW_PASSWORD })).statusCode).toBe(200)
    expect((await post('/auth/login', { email: user.email, password: PASSWORD })).statusCode).toBe(401)

    const again = await post('/auth/reset-password', { token, password: 'yet another passphrase 77' })
    expect(again.statusCode).toBe(400)
    expect(json(again).code).toBe('ONE_TIME_TOKEN_INVALID')
    // the user is told the password changed
    expect((await mailsTo(user.email)).at(-1)?.subject).toMatch(/password/i)
  })

  it('revokes every session and refresh token of the user', async () => {
    const user = await registerUser(server.app)
    await post('/auth/forgot-password', { email: user.email })
    const token = await tokenFrom(user.email, resetBase)
    expect((await post('/auth/reset-password', { token, password: NEW_PASSWORD })).statusCode).toBe(204)
    const refreshed = await refreshWith(server.app, user.refreshToken)
    expect(refreshed.statusCode).toBe(401)
    expect(json(refreshed).code).toBe('REFRESH_TOKEN_INVALID')
    expect((await server.app.inject({ url: '/auth/me', headers: bearer(user.accessToken) })).statusCode).toBe(
      401,
    )
  })

  it('refuses an expired link (15 minutes)', async () => {
    const user = await registerUser(server.app)
    await post('/auth/forgot-password', { email: user.email })
    const token = await tokenFrom(user.email, resetBase)
    server.clock.advance(15 * 60)
    const reset = await post('/auth/reset-password', { token, password: NEW_PASSWORD })
    expect(json(reset).code).toBe('ONE_TIME_TOKEN_INVALID')
    expect((await post('/auth/login', { email: user.email, password: PASSWORD })).statusCode).toBe(200)
  })

  it('refuses a verification token, and only the newest reset link works', async () => {
    const user = await registerUser(server.app)
    const verificationToken = await tokenFrom(user.email, verifyBase)
    const wrongPurpose = await post('/auth/reset-password', {
      token: verificationToken,
      password: NEW_PASSWORD,
    })
    expect(json(wrongPurpose).code).toBe('ONE_TIME_TOKEN_INVALID')

    await post('/auth/forgot-password', { email: user.email })
    const first = await tokenFrom(user.email, resetBase)
    await post('/auth/forgot-password', { email: user.email })
    const second = await tokenFrom(user.email, resetBase)
    expect(second).not.toBe(first)
    expect(json(await post('/auth/reset-password', { token: first, password: NEW_PASSWORD })).code).toBe(
      'ONE_TIME_TOKEN_INVALID',
    )
    expect((await post('/auth/reset-password', { token: second, password: NEW_PASSWORD })).statusCode).toBe(
      204,
    )
  })

  it('lets exactly one of two parallel resets with one token through', async () => {
    const user = await registerUser(server.app)
    await post('/auth/forgot-password', { email: user.email })
    const token = await tokenFrom(user.email, resetBase)
    const [a, b] = await Promise.all([
      post('/auth/reset-password', { token, password: 'first parallel passphrase 1' }),
      post('/auth/reset-password', { token, password: 'second parallel passphrase 2' }),
    ])
    expect([a.statusCode, b.statusCode].sort()).toEqual([204, 400])
  })

  it('refuses weak, common and too-long passwords, and keeps the link usable', async () => {
    const user = await registerUser(server.app)
    await post('/auth/forgot-password', { email: user.email })
    const token = await tokenFrom(user.email, resetBase)
    for (const password of ['password123', 'qwertyuiop', `${user.email.split('@')[0]}-secret-words`]) {
      const weak = await post('/auth/reset-password', { token, password })
      expect(weak.statusCode).toBe(400)
      expect(json(weak).code).toBe('WEAK_PASSWORD')
      expect(String(json(weak).detail).length).toBeGreaterThan(20)
    }
    const tooLong = await post('/auth/reset-password', { token, password: 'x'.repeat(257) })
    expect(json(tooLong).code).toBe('VALIDATION_FAILED')
    expect((await post('/auth/reset-password', { token, password: NEW_PASSWORD })).statusCode).toBe(204)
  })

  it('answers an unknown email exactly like a known one, and sends nothing', async () => {
    const user = await registerUser(server.app)
    const known = await post('/auth/forgot-password', { email: user.email })
    const unknownEmail = uniqueEmail('nobody')
    const unknown = await post('/auth/forgot-password', { email: unknownEmail })
    expect(unknown.statusCode).toBe(202)
    expect(unknown.body).toBe(known.body)
    expect(await mailsTo(unknownEmail)).toHaveLength(0)
  })

  it('refuses malformed and unknown tokens', async () => {
    for (const token of ['nope', 'A'.repeat(43)]) {
      const response = await post('/auth/reset-password', { token, password: NEW_PASSWORD })
      expect(response.statusCode).toBe(400)
      expect(json(response).code).toBe('ONE_TIME_TOKEN_INVALID')
    }
    expect(json(await post('/auth/reset-password', { password: NEW_PASSWORD })).code).toBe(
      'VALIDATION_FAILED',
    )
  })
})

describe('email verification', () => {
  it('mails a link on register; following it flips emailVerified and the claim', async () => {
    const user = await registerUser(server.app)
    const token = await tokenFrom(user.email, verifyBase)
    const verified = await post('/auth/verify-email', { token })
    expect(verified.statusCode).toBe(204)
    const login = await post('/auth/login', { email: user.email, password: PASSWORD })
    const body = json<{ user: { emailVerified: boolean }; accessToken: string }>(login)
    expect(body.user.emailVerified).toBe(true)
    const claims = JSON.parse(Buffer.from(body.accessToken.split('.')[1] ?? '', 'base64url').toString())
    expect(claims.email_verified).toBe(true)
    expect(json(await post('/auth/verify-email', { token })).code).toBe('ONE_TIME_TOKEN_INVALID')
  })

  it('refuses a reset token and an expired verification token (24 hours)', async () => {
    const user = await registerUser(server.app)
    await post('/auth/forgot-password', { email: user.email })
    const resetToken = await tokenFrom(user.email, resetBase)
    expect(json(await post('/auth/verify-email', { token: resetToken })).code).toBe('ONE_TIME_TOKEN_INVALID')
    await post('/auth/verify-email/resend', { email: user.email })
    const token = await tokenFrom(user.email, verifyBase)
    server.clock.advance(24 * 3600)
    expect(json(await post('/auth/verify-email', { token })).code).toBe('ONE_TIME_TOKEN_INVALID')
  })

  it('resends a fresh link and answers the same for unknown and verified addresses', async () => {
    const user = await registerUser(server.app)
    const before = (await mailsTo(user.email)).length
    const resend = await post('/auth/verify-email/resend', { email: user.email })
    expect(resend.statusCode).toBe(202)
    expect((await mailsTo(user.email)).length).toBe(before + 1)
    const unknown = await post('/auth/verify-email/resend', { email: uniqueEmail('nobody') })
    expect(unknown.body).toBe(resend.body)
    await post('/auth/verify-email', { token: await tokenFrom(user.email, verifyBase) })
    const verifiedCount = (await mailsTo(user.email)).length
    const already = await post('/auth/verify-email/resend', { email: user.email })
    expect(already.body).toBe(resend.body)
    expect((await mailsTo(user.email)).length).toBe(verifiedCount)
  })
})

describe('with TESSERA_REQUIRE_EMAIL_VERIFICATION=true', () => {
  let strict: TestServer
  beforeAll(async () => {
    strict = await startTestServer({
      SMTP_URL: smtp.url,
      TESSERA_REQUIRE_EMAIL_VERIFICATION: 'true',
      TESSERA_PUBLIC_URL: 'https://auth.example.com',
    })
  })
  afterAll(() => strict.close())

  const strictPost = (url: string, payload: object) => strict.app.inject({ method: 'POST', url, payload })
  const strictMails = async (to: string) => {
    await strict.deps.mailer.idle()
    return smtp.messages.filter((mail) => mail.to.toLowerCase().includes(to.toLowerCase()))
  }

  it('answers register 202 without tokens for a new and a taken email alike; the owner gets a notice', async () => {
    const email = uniqueEmail('strict')
    const fresh = await strictPost('/auth/register', { email, password: PASSWORD })
    expect(fresh.statusCode).toBe(202)
    expect(json(fresh)).toEqual({ status: 'verification_pending' })
    expect(fresh.cookies).toHaveLength(0)
    const taken = await strictPost('/auth/register', { email, password: 'another long passphrase 9' })
    expect(taken.statusCode).toBe(202)
    expect(taken.body).toBe(fresh.body)
    const mails = await strictMails(email)
    expect(mails).toHaveLength(2)
    expect(mails[0]?.text).toContain(verifyBase)
    expect(mails[1]?.subject).not.toBe(mails[0]?.subject)
    // the notice carries a working reset link, in case a forgotten password is why they tried
    const link = new URL(/https:\/\/\S+token=\S+/.exec(mails[1]?.text ?? '')?.[0] ?? 'https://x')
    expect(link.href.startsWith(resetBase)).toBe(true)
    const reset = await strictPost('/auth/reset-password', {
      token: link.searchParams.get('token') ?? '',
      password: NEW_PASSWORD,
    })
    expect(reset.statusCode).toBe(204)
  })

  it('refuses login until verified (only with the right password), then allows it', async () => {
    const email = uniqueEmail('strict')
    await strictPost('/auth/register', { email, password: PASSWORD })
    const wrong = await strictPost('/auth/login', { email, password: 'not the password at all' })
    expect(json(wrong).code).toBe('INVALID_CREDENTIALS')
    const blocked = await strictPost('/auth/login', { email, password: PASSWORD })
    expect(blocked.statusCode).toBe(403)
    expect(json(blocked).code).toBe('EMAIL_NOT_VERIFIED')
    const mail = (await strictMails(email)).at(-1)
    const link = new URL(/https:\/\/\S+token=\S+/.exec(mail?.text ?? '')?.[0] ?? 'https://x')
    expect(
      (await strictPost('/auth/verify-email', { token: link.searchParams.get('token') ?? '' })).statusCode,
    ).toBe(204)
    expect((await strictPost('/auth/login', { email, password: PASSWORD })).statusCode).toBe(200)
  })
})

describe('POST /auth/password', () => {
  it('changes the password, keeps this session, revokes the others and sends a notice', async () => {
    const user = await registerUser(server.app)
    const other = json<{ refreshToken: string }>(
      await post('/auth/login', { email: user.email, password: PASSWORD, tokenDelivery: 'body' }),
    )
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(user.accessToken),
      payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    })
    expect(response.statusCode).toBe(204)
    expect((await refreshWith(server.app, user.refreshToken)).statusCode).toBe(200)
    expect(json(await refreshWith(server.app, other.refreshToken)).code).toBe('REFRESH_TOKEN_INVALID')
    expect((await post('/auth/login', { email: user.email, password: NEW_PASSWORD })).statusCode).toBe(200)
    expect((await mailsTo(user.email)).at(-1)?.subject).toMatch(/password/i)
  })

  it('refuses a wrong current password with INVALID_CREDENTIALS and changes nothing', async () => {
    const user = await registerUser(server.app)
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(user.accessToken),
      payload: { currentPassword: 'not the password', newPassword: NEW_PASSWORD },
    })
    expect(response.statusCode).toBe(401)
    expect(json(response).code).toBe('INVALID_CREDENTIALS')
    expect((await post('/auth/login', { email: user.email, password: PASSWORD })).statusCode).toBe(200)
  })

  it('refuses a weak new password and an unauthenticated call, and kills older reset links', async () => {
    const user = await registerUser(server.app)
    await post('/auth/forgot-password', { email: user.email })
    const resetToken = await tokenFrom(user.email, resetBase)
    const weak = await server.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(user.accessToken),
      payload: { currentPassword: PASSWORD, newPassword: 'password1' },
    })
    expect(json(weak).code).toBe('WEAK_PASSWORD')
    const anonymous = await post('/auth/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD })
    expect(json(anonymous).code).toBe('TOKEN_MISSING')
    await server.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(user.accessToken),
      payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    })
    expect(
      json(await post('/auth/reset-password', { token: resetToken, password: 'reset after change 5' })).code,
    ).toBe('ONE_TIME_TOKEN_INVALID')
  })
})

describe('register applies the policy', () => {
  it('answers WEAK_PASSWORD for a common password', async () => {
    const response = await post('/auth/register', { email: uniqueEmail(), password: 'password123' })
    expect(response.statusCode).toBe(400)
    expect(json(response).code).toBe('WEAK_PASSWORD')
  })
})
