import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { epochSeconds } from '../../src/clock.js'
import { disableUser } from '../../src/flows/manage-users.js'
import { hashOneTimeToken } from '../../src/flows/one-time-token.js'
import {
  bearer,
  json,
  PASSWORD,
  type Registered,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'
import { type ReceivedMail, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js'
import { claimsOf, codeAt, codeOf, enrolledUser, verify } from '../mfa/mfa-helpers.js'

const PUBLIC_URL = 'https://auth.example.com'
const MAGIC_BASE = `${PUBLIC_URL}/magic-link`
const RESET_BASE = `${PUBLIC_URL}/reset-password`
const VERIFY_BASE = `${PUBLIC_URL}/verify-email`

type Tokens = { user: { id: string; emailVerified: boolean }; accessToken: string; refreshToken?: string }

let smtp: TestSmtpServer
let server: TestServer
beforeAll(async () => {
  smtp = await startSmtpServer()
  server = await startTestServer({
    TESSERA_MAGIC_LINK: 'on',
    TESSERA_MFA_REQUIRED_ROLES: 'admin',
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Tessera <auth@example.com>',
    // links are built from the public URL, never from the request's Host
    TESSERA_PUBLIC_URL: PUBLIC_URL,
  })
})
afterAll(async () => {
  await server.close()
  await smtp.close()
})
afterEach(() => server.deps.mailer.idle())

const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url, payload, headers })

const requestLink = (email: string, headers: Record<string, string> = {}) =>
  post('/auth/magic-link', { email }, headers)

const signIn = (token: string, tokenDelivery: 'body' | 'cookie' = 'body') =>
  post('/auth/magic-link/verify', { token, tokenDelivery })

const login = (email: string, password = PASSWORD) =>
  post('/auth/login', { email, password, tokenDelivery: 'body' })

/** The mails that reached the SMTP server for `to`, once every queued mail went out. */
async function mailsTo(to: string): Promise<ReceivedMail[]> {
  await server.deps.mailer.idle()
  return smtp.messages.filter((mail) => mail.to.toLowerCase().includes(to.toLowerCase()))
}

/** The token of the link to `base` in the last mail to `to` that has one. */
async function tokenFrom(to: string, base: string): Promise<string> {
  for (const mail of (await mailsTo(to)).reverse()) {
    const links = [...mail.text.matchAll(/https?:\/\/\S+/g)].map((match) => new URL(match[0]))
    const link = links.find((url) => url.href.startsWith(base) && url.searchParams.has('token'))
    if (link) return link.searchParams.get('token') ?? ''
  }
  throw new Error(`no link to ${base} in the mails to ${to}`)
}

/** A registered user whose email is verified, as the owner's own account would be. */
async function verifiedUser(): Promise<Registered> {
  const user = await registerUser(server.app)
  const verified = await post('/auth/verify-email', { token: await tokenFrom(user.email, VERIFY_BASE) })
  expect(verified.statusCode).toBe(204)
  return user
}

async function magicToken(email: string): Promise<string> {
  const requested = await requestLink(email)
  expect(requested.statusCode).toBe(202)
  return tokenFrom(email, MAGIC_BASE)
}

describe('a magic link, end to end through SMTP', () => {
  it('mails a link to the page under the public URL; the link signs in with amr magic_link', async () => {
    const user = await verifiedUser()
    const requested = await requestLink(user.email.toUpperCase(), {
      host: 'evil.example',
      'x-forwarded-host': 'evil.example',
    })
    expect(requested.statusCode).toBe(202)
    expect(json(requested)).toEqual({ status: 'accepted' })

    const mail = (await mailsTo(user.email)).at(-1)
    expect(mail?.subject).toMatch(/sign in/i)
    expect(mail?.from).toContain('auth@example.com')
    expect(mail?.text).not.toContain('evil.example')
    expect(mail?.html).toContain(MAGIC_BASE)
    expect(mail?.text).toMatch(/expires in 15 minutes/)
    const token = await tokenFrom(user.email, MAGIC_BASE)
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)

    const signedIn = await signIn(token)
    expect(signedIn.statusCode).toBe(200)
    expect(signedIn.headers['cache-control']).toBe('no-store')
    const tokens = json<Tokens>(signedIn)
    expect(tokens.user.id).toBe(user.userId)
    expect(tokens.refreshToken).toEqual(expect.any(String))
    const claims = claimsOf(tokens.accessToken)
    expect(claims.amr).toEqual(['magic_link'])
    expect(claims.acr).toBe('urn:tessera:pwd')
    expect(claims.auth_time).toBe(epochSeconds(server.clock.now()))
    expect(claims.sub).toBe(user.userId)

    // an account verified before keeps its password and its other sessions
    expect((await login(user.email)).statusCode).toBe(200)
    expect((await refreshWith(server.app, user.refreshToken)).statusCode).toBe(200)
    // the new session refreshes like any other
    expect((await refreshWith(server.app, tokens.refreshToken ?? '')).statusCode).toBe(200)
  })

  it('verifies the email: the user and the access token say so', async () => {
    const user = await registerUser(server.app)
    const signedIn = await signIn(await magicToken(user.email))
    expect(signedIn.statusCode).toBe(200)
    const tokens = json<Tokens>(signedIn)
    expect(tokens.user.emailVerified).toBe(true)
    expect(claimsOf(tokens.accessToken).email_verified).toBe(true)
    const me = await server.app.inject({ url: '/auth/me', headers: bearer(tokens.accessToken) })
    expect(json<{ user: { emailVerified: boolean } }>(me).user.emailVerified).toBe(true)
  })

  it('sets the refresh cookie in cookie mode, as login does', async () => {
    const user = await verifiedUser()
    const signedIn = await signIn(await magicToken(user.email), 'cookie')
    expect(signedIn.statusCode).toBe(200)
    expect(json(signedIn).refreshToken).toBeUndefined()
    const cookie = signedIn.cookies.find((entry) => entry.name === 'tessera_refresh')
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/auth', secure: true })
  })
})

describe('enumeration safety', () => {
  it('answers an unknown email exactly like a known one, and mails nothing', async () => {
    const user = await verifiedUser()
    const known = await requestLink(user.email)
    const unknownEmail = uniqueEmail('nobody')
    const unknown = await requestLink(unknownEmail)
    expect(unknown.statusCode).toBe(202)
    expect(unknown.body).toBe(known.body)
    expect(unknown.headers['content-type']).toBe(known.headers['content-type'])
    expect(await mailsTo(unknownEmail)).toHaveLength(0)
  })

  it('answers a disabled account the same, and mails it nothing', async () => {
    const user = await verifiedUser()
    await disableUser(server.deps, user.email)
    const before = (await mailsTo(user.email)).length
    const response = await requestLink(user.email)
    expect(response.statusCode).toBe(202)
    expect(json(response)).toEqual({ status: 'accepted' })
    expect(await mailsTo(user.email)).toHaveLength(before)
  })

  it('refuses a malformed email like the other routes (400), whatever the accounts', async () => {
    const response = await requestLink('not-an-email')
    expect(response.statusCode).toBe(400)
    expect(codeOf(response)).toBe('VALIDATION_FAILED')
    expect(codeOf(await post('/auth/magic-link', { email: 'a@example.com', extra: 1 }))).toBe(
      'VALIDATION_FAILED',
    )
  })
})

describe('the token', () => {
  it('works once', async () => {
    const user = await verifiedUser()
    const token = await magicToken(user.email)
    expect((await signIn(token)).statusCode).toBe(200)
    const again = await signIn(token)
    expect(again.statusCode).toBe(400)
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(codeOf(again)).toBe('ONE_TIME_TOKEN_INVALID')
  })

  it('lets exactly one of two parallel uses through', async () => {
    const user = await verifiedUser()
    const token = await magicToken(user.email)
    const [a, b] = await Promise.all([signIn(token), signIn(token)])
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 400])
  })

  it('expires after 15 minutes', async () => {
    const user = await verifiedUser()
    const token = await magicToken(user.email)
    server.clock.advance(15 * 60)
    const late = await signIn(token)
    expect(late.statusCode).toBe(400)
    expect(codeOf(late)).toBe('ONE_TIME_TOKEN_INVALID')
    // a minute before, a fresh one works
    const fresh = await magicToken(user.email)
    server.clock.advance(14 * 60)
    expect((await signIn(fresh)).statusCode).toBe(200)
  })

  it('only the newest link works', async () => {
    const user = await verifiedUser()
    const first = await magicToken(user.email)
    const second = await magicToken(user.email)
    expect(second).not.toBe(first)
    expect(codeOf(await signIn(first))).toBe('ONE_TIME_TOKEN_INVALID')
    expect((await signIn(second)).statusCode).toBe(200)
  })

  it('refuses reset and verification tokens, and does not work as either', async () => {
    const user = await registerUser(server.app)
    const verification = await tokenFrom(user.email, VERIFY_BASE)
    expect(codeOf(await signIn(verification))).toBe('ONE_TIME_TOKEN_INVALID')
    await post('/auth/forgot-password', { email: user.email })
    const reset = await tokenFrom(user.email, RESET_BASE)
    expect(codeOf(await signIn(reset))).toBe('ONE_TIME_TOKEN_INVALID')

    const magic = await magicToken(user.email)
    expect(codeOf(await post('/auth/verify-email', { token: magic }))).toBe('ONE_TIME_TOKEN_INVALID')
    expect(
      codeOf(await post('/auth/reset-password', { token: magic, password: 'a brand new passphrase 42' })),
    ).toBe('ONE_TIME_TOKEN_INVALID')
    // the refusals used none of them up
    expect((await post('/auth/verify-email', { token: verification })).statusCode).toBe(204)
    expect((await signIn(magic)).statusCode).toBe(200)
  })

  it('refuses malformed and unknown tokens', async () => {
    for (const token of ['nope', 'A'.repeat(43)]) {
      const response = await signIn(token)
      expect(response.statusCode).toBe(400)
      expect(codeOf(response)).toBe('ONE_TIME_TOKEN_INVALID')
    }
    expect(codeOf(await post('/auth/magic-link/verify', {}))).toBe('VALIDATION_FAILED')
    expect(codeOf(await post('/auth/magic-link/verify', { token: 'x', tokenDelivery: 'jar' }))).toBe(
      'VALIDATION_FAILED',
    )
  })

  it('is refused for a disabled account', async () => {
    const user = await verifiedUser()
    const token = await magicToken(user.email)
    await disableUser(server.deps, user.email)
    const response = await signIn(token)
    expect(response.statusCode).toBe(403)
    expect(codeOf(response)).toBe('ACCOUNT_DISABLED')
  })

  it('is stored only as its SHA-256', async () => {
    const user = await verifiedUser()
    const token = await magicToken(user.email)
    const { oneTimeTokens } = server.deps.stores
    const now = server.clock.now()
    expect(await oneTimeTokens.peek(hashOneTimeToken(token), 'magic_link', now)).toMatchObject({
      userId: user.userId,
    })
    expect(await oneTimeTokens.peek(Buffer.from(token), 'magic_link', now)).toBeUndefined()
  })
})

describe('pre-hijacking: an address first verified by a magic link', () => {
  it('removes the password and every session of the account before signing in', async () => {
    // someone registered the address before its owner, and keeps a session and the password
    const squatter = await registerUser(server.app)
    const squatterLogin = json<Tokens>(await login(squatter.email))

    const signedIn = await signIn(await magicToken(squatter.email))
    expect(signedIn.statusCode).toBe(200)
    const owner = json<Tokens>(signedIn)
    expect(owner.user.emailVerified).toBe(true)

    // the password set before no longer signs in: a plain INVALID_CREDENTIALS, no 5xx
    const oldPassword = await login(squatter.email)
    expect(oldPassword.statusCode).toBe(401)
    expect(codeOf(oldPassword)).toBe('INVALID_CREDENTIALS')
    // the sessions opened before are dead, their refresh and access tokens with them
    for (const refreshToken of [squatter.refreshToken, squatterLogin.refreshToken ?? '']) {
      const refreshed = await refreshWith(server.app, refreshToken)
      expect(refreshed.statusCode).toBe(401)
      expect(codeOf(refreshed)).toBe('REFRESH_TOKEN_INVALID')
    }
    const me = await server.app.inject({ url: '/auth/me', headers: bearer(squatter.accessToken) })
    expect(me.statusCode).toBe(401)
    // the owner's new session lives
    expect((await refreshWith(server.app, owner.refreshToken ?? '')).statusCode).toBe(200)
  })

  it('leaves an account without a password that sets one by reset, and refuses a password change', async () => {
    const squatter = await registerUser(server.app)
    const owner = json<Tokens>(await signIn(await magicToken(squatter.email)))

    const change = await post(
      '/auth/password',
      { currentPassword: PASSWORD, newPassword: 'the owner picks this one 9' },
      bearer(owner.accessToken),
    )
    expect(change.statusCode).toBe(401)
    expect(codeOf(change)).toBe('INVALID_CREDENTIALS')
    expect(json(change).detail).toMatch(/no password/i)

    await post('/auth/forgot-password', { email: squatter.email })
    const reset = await post('/auth/reset-password', {
      token: await tokenFrom(squatter.email, RESET_BASE),
      password: 'the owner picks this one 9',
    })
    expect(reset.statusCode).toBe(204)
    expect((await login(squatter.email, 'the owner picks this one 9')).statusCode).toBe(200)
  })

  it('records the takeover in the audit log, without the token', async () => {
    const squatter = await registerUser(server.app)
    const token = await magicToken(squatter.email)
    expect((await signIn(token)).statusCode).toBe(200)
    const events = await vi.waitFor(
      async () => {
        const rows = await server.deps.stores.authEvents.listForUser(squatter.userId, 100)
        if (!rows.some((row) => row.type === 'login_succeeded')) throw new Error('no login_succeeded yet')
        return rows.map(({ type, detail }) => ({ type, detail }))
      },
      { timeout: 5000, interval: 20 },
    )
    expect(events).toContainEqual({
      type: 'email_verified',
      detail: { via: 'magic_link', passwordRemoved: true, sessionsRevoked: 1 },
    })
    expect(events).toContainEqual({ type: 'login_succeeded', detail: { method: 'magic_link' } })
    expect(events).toContainEqual({ type: 'magic_link_requested', detail: { mailed: true } })
    expect(JSON.stringify(events)).not.toContain(token)
  })
})

describe('an account with a second factor', () => {
  it('answers mfa_required; /auth/mfa/verify finishes with amr magic_link, otp, mfa', async () => {
    const user = await enrolledUser(server)
    const first = await signIn(await magicToken(user.email))
    expect(first.statusCode).toBe(200)
    expect(first.headers['set-cookie']).toBeUndefined()
    const challenge = json<{ status: string; mfaToken: string; methods: string[] }>(first)
    expect(challenge).toEqual({
      status: 'mfa_required',
      mfaToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      methods: ['totp', 'recovery_code'],
    })

    const verified = await verify(server, { mfaToken: challenge.mfaToken, code: codeAt(user.secret, server) })
    expect(verified.statusCode).toBe(200)
    const claims = claimsOf(json<Tokens>(verified).accessToken)
    expect(claims.amr).toEqual(['magic_link', 'otp', 'mfa'])
    expect(claims.acr).toBe('urn:tessera:mfa')
    // the verified account kept its password
    expect((await login(user.email)).statusCode).toBe(200)
  })

  it('used the link up: it cannot start a second sign-in', async () => {
    const user = await enrolledUser(server)
    const token = await magicToken(user.email)
    expect(json(await signIn(token)).status).toBe('mfa_required')
    expect(codeOf(await signIn(token))).toBe('ONE_TIME_TOKEN_INVALID')
  })
})

describe('step-up after a magic link', () => {
  it('adds the password to amr but never makes it mfa: the mailbox can reset the password', async () => {
    const user = await verifiedUser()
    const signedIn = json<Tokens>(await signIn(await magicToken(user.email)))
    server.clock.advance(60)
    const stepped = await post('/auth/mfa/step-up', { password: PASSWORD }, bearer(signedIn.accessToken))
    expect(stepped.statusCode).toBe(200)
    const claims = claimsOf(json<Tokens>(stepped).accessToken)
    expect(claims.amr).toEqual(['pwd', 'magic_link'])
    expect(claims.acr).toBe('urn:tessera:pwd')
    expect(claims.auth_time).toBe(epochSeconds(server.clock.now()))
  })

  it('refuses a password step-up of an account without a password, like a wrong password', async () => {
    const squatter = await registerUser(server.app)
    const owner = json<Tokens>(await signIn(await magicToken(squatter.email)))
    const stepped = await post('/auth/mfa/step-up', { password: PASSWORD }, bearer(owner.accessToken))
    expect(stepped.statusCode).toBe(401)
    expect(codeOf(stepped)).toBe('INVALID_CREDENTIALS')
  })
})

describe('a passwordless account at password login', () => {
  it('answers INVALID_CREDENTIALS for any password, as for a wrong one', async () => {
    const squatter = await registerUser(server.app)
    expect((await signIn(await magicToken(squatter.email))).statusCode).toBe(200)
    for (const password of [PASSWORD, 'anything else at all 1']) {
      const response = await login(squatter.email, password)
      expect(response.statusCode).toBe(401)
      expect(json(response)).toEqual(json(await login(uniqueEmail('nobody'), password)))
    }
  })
})

describe('a magic link for a user whose role requires a second factor (TESSERA_MFA_REQUIRED_ROLES)', () => {
  it('answers mfa_enrollment_required; enrolling with that token signs in with amr magic_link, otp, mfa', async () => {
    const user = await verifiedUser()
    await server.deps.stores.users.setRoles(user.userId, ['admin'], server.clock.now())
    const answered = await signIn(await magicToken(user.email))
    expect(answered.statusCode).toBe(200)
    const { status, enrollmentToken } = json<{ status: string; enrollmentToken: string }>(answered)
    expect(status).toBe('mfa_enrollment_required')

    const setup = await post('/auth/mfa/totp/setup', {}, bearer(enrollmentToken))
    expect(setup.statusCode, setup.body).toBe(200)
    const { secret } = json<{ secret: string }>(setup)
    const confirmed = await post(
      '/auth/mfa/totp/confirm',
      { code: codeAt(secret, server), tokenDelivery: 'body' },
      bearer(enrollmentToken),
    )
    expect(confirmed.statusCode, confirmed.body).toBe(200)
    expect(claimsOf(json<Tokens>(confirmed).accessToken)).toMatchObject({
      sub: user.userId,
      amr: ['magic_link', 'otp', 'mfa'],
      acr: 'urn:tessera:mfa',
    })
  })
})
