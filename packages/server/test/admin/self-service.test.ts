import { decodeJwt } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { changeRoles } from '../../src/flows/manage-users.js'
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

let smtp: TestSmtpServer
let server: TestServer
beforeAll(async () => {
  smtp = await startSmtpServer()
  server = await startTestServer({
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Tessera <auth@example.com>',
    TESSERA_PUBLIC_URL: 'https://auth.example.com',
  })
})
afterAll(async () => {
  await server.close()
  await smtp.close()
})
afterEach(() => server.deps.mailer.idle())

const inject = (method: 'POST' | 'PATCH' | 'DELETE' | 'GET', url: string, token?: string, payload?: object) =>
  server.app.inject({
    method,
    url,
    headers: token === undefined ? {} : bearer(token),
    ...(payload === undefined ? {} : { payload }),
  })

const login = (email: string, password = PASSWORD) =>
  server.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password, tokenDelivery: 'body' },
  })

async function mailsTo(to: string): Promise<ReceivedMail[]> {
  await server.deps.mailer.idle()
  return smtp.messages.filter((mail) => mail.to.toLowerCase().includes(to.toLowerCase()))
}

const confirmBase = 'https://auth.example.com/confirm-email'

async function tokenFrom(to: string): Promise<string> {
  const last = (await mailsTo(to)).at(-1)
  if (!last) throw new Error(`no mail to ${to}`)
  const link = [...last.text.matchAll(/https?:\/\/\S+/g)]
    .map((match) => new URL(match[0]))
    .find((url) => url.href.startsWith(confirmBase))
  if (!link) throw new Error(`no confirm link in: ${last.text}`)
  return link.searchParams.get('token') ?? ''
}

/** An access token of a new user given the admin role (refreshed, so the token carries it). */
async function signedInAdmin(label: string): Promise<string> {
  const adminUser = await registerUser(server.app, uniqueEmail(label))
  await changeRoles(server.deps, adminUser.email, { add: ['admin'], remove: [] })
  return json<{ accessToken: string }>(await refreshWith(server.app, adminUser.refreshToken)).accessToken
}

describe('PATCH /auth/me', () => {
  it('changes the name and nothing else', async () => {
    const user = await registerUser(server.app)
    const response = await inject('PATCH', '/auth/me', user.accessToken, { name: '  Ada  ' })
    expect(response.statusCode).toBe(200)
    expect(json<{ user: { name: string } }>(response).user.name).toBe('Ada')
    expect(
      json<{ user: { name: string } }>(await inject('GET', '/auth/me', user.accessToken)).user.name,
    ).toBe('Ada')
    for (const payload of [{ name: 'x', roles: ['admin'] }, { email: 'a@b.c' }, {}]) {
      const refused = await inject('PATCH', '/auth/me', user.accessToken, payload)
      expect(refused.statusCode).toBe(400)
      expect(json(refused).code).toBe('VALIDATION_FAILED')
    }
    // still the user's roles: the refused body changed nothing, and the token is not stale
    const me = json<{ user: { roles: string[] } }>(await inject('GET', '/auth/me', user.accessToken))
    expect(me.user.roles).toEqual(['user'])
    expect((await inject('PATCH', '/auth/me', undefined, { name: 'x' })).statusCode).toBe(401)
  })
})

describe('email change', () => {
  it('end to end: the new address confirms, the old one is told, login works with the new one only', async () => {
    const user = await registerUser(server.app, uniqueEmail('old'))
    const newEmail = uniqueEmail('new')
    const request = await inject('POST', '/auth/email', user.accessToken, { newEmail, password: PASSWORD })
    expect(request.statusCode).toBe(202)

    const told = (await mailsTo(user.email)).at(-1)
    expect(told?.subject).toMatch(/email address is being changed/)
    expect(told?.text).toContain(newEmail)
    expect(told?.text).not.toContain(confirmBase)
    const token = await tokenFrom(newEmail)
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // nothing changed before the link is used
    expect((await login(user.email)).statusCode).toBe(200)

    const confirm = await inject('POST', '/auth/email/confirm', undefined, { token })
    expect(confirm.statusCode).toBe(204)
    // the old access token is stale; the refresh gets one with the new address, verified
    expect(json(await inject('GET', '/auth/me', user.accessToken)).code).toBe('TOKEN_REVOKED')
    const refreshed = json<{ accessToken: string }>(await refreshWith(server.app, user.refreshToken))
    expect(decodeJwt(refreshed.accessToken)).toMatchObject({ email: newEmail, email_verified: true })

    const withNew = await login(newEmail)
    expect(withNew.statusCode).toBe(200)
    expect(json<{ user: { email: string; emailVerified: boolean } }>(withNew).user).toMatchObject({
      email: newEmail,
      emailVerified: true,
    })
    const withOld = await login(user.email)
    expect(withOld.statusCode).toBe(401)
    expect(json(withOld).code).toBe('INVALID_CREDENTIALS')

    // the link works once
    const again = await inject('POST', '/auth/email/confirm', undefined, { token })
    expect(again.statusCode).toBe(400)
    expect(json(again).code).toBe('ONE_TIME_TOKEN_INVALID')
  })

  it('answers 202 for a taken address but mails it no link; EMAIL_TAKEN when taken between link and confirmation', async () => {
    const user = await registerUser(server.app)
    const other = await registerUser(server.app)
    const before = (await mailsTo(other.email)).length
    const taken = await inject('POST', '/auth/email', user.accessToken, {
      newEmail: other.email,
      password: PASSWORD,
    })
    expect(taken.statusCode).toBe(202)
    expect(await mailsTo(other.email)).toHaveLength(before)

    const wanted = uniqueEmail('wanted')
    await inject('POST', '/auth/email', user.accessToken, { newEmail: wanted, password: PASSWORD })
    const token = await tokenFrom(wanted)
    await registerUser(server.app, wanted)
    const confirm = await inject('POST', '/auth/email/confirm', undefined, { token })
    expect(confirm.statusCode).toBe(409)
    expect(json(confirm).code).toBe('EMAIL_TAKEN')
    expect((await login(user.email)).statusCode).toBe(200)
  })

  it('needs the right password or a recent sign-in; bad, expired and forged tokens are refused', async () => {
    const user = await registerUser(server.app)
    const newEmail = uniqueEmail('later')
    const wrong = await inject('POST', '/auth/email', user.accessToken, {
      newEmail,
      password: 'not the password',
    })
    expect(wrong.statusCode).toBe(401)
    expect(json(wrong).code).toBe('INVALID_CREDENTIALS')
    // just signed in: recent enough without the password
    expect((await inject('POST', '/auth/email', user.accessToken, { newEmail })).statusCode).toBe(202)
    const token = await tokenFrom(newEmail)

    server.clock.advance(600)
    const refreshed = json<{ accessToken: string }>(await refreshWith(server.app, user.refreshToken))
    const stale = await inject('POST', '/auth/email', refreshed.accessToken, { newEmail: uniqueEmail() })
    expect(stale.statusCode).toBe(401)
    expect(json(stale).code).toBe('STEP_UP_REQUIRED')

    // the verification lifetime (24 h) passes: the link is dead
    server.clock.advance(24 * 3600)
    const expired = await inject('POST', '/auth/email/confirm', undefined, { token })
    expect(json(expired).code).toBe('ONE_TIME_TOKEN_INVALID')
    const forged = await inject('POST', '/auth/email/confirm', undefined, { token: 'A'.repeat(43) })
    expect(json(forged).code).toBe('ONE_TIME_TOKEN_INVALID')
  })
})

describe('a pending email change', () => {
  async function pendingChange(user: { accessToken: string }): Promise<string> {
    const newEmail = uniqueEmail('pending')
    const request = await inject('POST', '/auth/email', user.accessToken, { newEmail, password: PASSWORD })
    expect(request.statusCode).toBe(202)
    return tokenFrom(newEmail)
  }
  async function expectDead(token: string, email: string, password = PASSWORD): Promise<void> {
    const confirm = await inject('POST', '/auth/email/confirm', undefined, { token })
    expect(confirm.statusCode).toBe(400)
    expect(json(confirm).code).toBe('ONE_TIME_TOKEN_INVALID')
    // the account kept its address
    expect(json<{ user: { email: string } }>(await login(email, password)).user.email).toBe(email)
  }

  it('dies with a password change, a sign-out everywhere and a later request', async () => {
    const user = await registerUser(server.app)
    const beforeChange = await pendingChange(user)
    const NEW_PASSWORD = `${PASSWORD}-changed`
    const changed = await inject('POST', '/auth/password', user.accessToken, {
      currentPassword: PASSWORD,
      newPassword: NEW_PASSWORD,
    })
    expect(changed.statusCode).toBe(204)
    await expectDead(beforeChange, user.email, NEW_PASSWORD)

    const other = await registerUser(server.app)
    const beforeLogoutAll = await pendingChange(other)
    expect((await inject('POST', '/auth/logout-all', other.accessToken)).statusCode).toBe(204)
    await expectDead(beforeLogoutAll, other.email)

    // only the latest request counts, even when the later one named a taken address
    const third = await registerUser(server.app)
    const first = await pendingChange(third)
    const taken = await inject('POST', '/auth/email', third.accessToken, {
      newEmail: other.email,
      password: PASSWORD,
    })
    expect(taken.statusCode).toBe(202)
    await expectDead(first, third.email)
  })

  it('dies with a password reset', async () => {
    const user = await registerUser(server.app)
    const token = await pendingChange(user)
    expect((await inject('POST', '/auth/forgot-password', undefined, { email: user.email })).statusCode).toBe(
      202,
    )
    const reset = await inject('POST', '/auth/reset-password', undefined, {
      token: await resetTokenFrom(user.email),
      password: `${PASSWORD}-reset`,
    })
    expect(reset.statusCode).toBe(204)
    const confirm = await inject('POST', '/auth/email/confirm', undefined, { token })
    expect(json(confirm).code).toBe('ONE_TIME_TOKEN_INVALID')
    expect((await login(user.email, `${PASSWORD}-reset`)).statusCode).toBe(200)
  })
})

async function resetTokenFrom(to: string): Promise<string> {
  const link = (await mailsTo(to))
    .flatMap((mail) => [...mail.text.matchAll(/https?:\/\/\S+/g)].map((match) => new URL(match[0])))
    .filter((url) => url.pathname === '/reset-password')
    .at(-1)
  if (!link) throw new Error(`no reset link to ${to}`)
  return link.searchParams.get('token') ?? ''
}

describe('an administrator moving an account to another address', () => {
  it('voids the links mailed to the old one: a reset link from before sets nothing', async () => {
    const adminToken = await signedInAdmin('mover')

    const user = await registerUser(server.app, uniqueEmail('moved'))
    await inject('POST', '/auth/forgot-password', undefined, { email: user.email })
    const oldLink = await resetTokenFrom(user.email)
    const me = json<{ user: { id: string } }>(await inject('GET', '/auth/me', user.accessToken))
    const newEmail = uniqueEmail('moved-to')
    const moved = await inject('PATCH', `/admin/users/${me.user.id}`, adminToken, { email: newEmail })
    expect(moved.statusCode).toBe(200)

    const reset = await inject('POST', '/auth/reset-password', undefined, {
      token: oldLink,
      password: `${PASSWORD}-taken-over`,
    })
    expect(reset.statusCode).toBe(400)
    expect(json(reset).code).toBe('ONE_TIME_TOKEN_INVALID')
    expect((await login(newEmail)).statusCode).toBe(200)
    expect(json(await login(newEmail, `${PASSWORD}-taken-over`)).code).toBe('INVALID_CREDENTIALS')
  })
})

describe('DELETE /auth/me', () => {
  it('deletes the account and its sessions with the password; the email is free again', async () => {
    const user = await registerUser(server.app)
    const second = json<{ refreshToken: string }>(await login(user.email))
    const wrong = await inject('DELETE', '/auth/me', user.accessToken, { password: 'not the password' })
    expect(json(wrong).code).toBe('INVALID_CREDENTIALS')
    expect((await inject('GET', '/auth/me', user.accessToken)).statusCode).toBe(200)

    const deleted = await inject('DELETE', '/auth/me', user.accessToken, { password: PASSWORD })
    expect(deleted.statusCode).toBe(204)
    expect(json(await inject('GET', '/auth/me', user.accessToken)).code).toMatch(
      /TOKEN_REVOKED|TOKEN_INVALID/,
    )
    expect((await refreshWith(server.app, user.refreshToken)).statusCode).toBe(401)
    expect((await refreshWith(server.app, second.refreshToken)).statusCode).toBe(401)
    expect(json(await login(user.email)).code).toBe('INVALID_CREDENTIALS')
    expect((await registerUser(server.app, user.email)).userId).not.toBe(user.userId)
  })

  it('without a password needs a recent sign-in', async () => {
    const user = await registerUser(server.app)
    server.clock.advance(600)
    const refreshed = json<{ accessToken: string }>(await refreshWith(server.app, user.refreshToken))
    const stale = await inject('DELETE', '/auth/me', refreshed.accessToken)
    expect(json(stale).code).toBe('STEP_UP_REQUIRED')
    const fresh = json<{ accessToken: string }>(await login(user.email))
    expect((await inject('DELETE', '/auth/me', fresh.accessToken)).statusCode).toBe(204)
  })
})

describe('invitations', () => {
  it('an admin-created user without a password gets a set-password link that works', async () => {
    const adminToken = await signedInAdmin('inviter')
    const email = uniqueEmail('invited')
    const created = await inject('POST', '/admin/users', adminToken, { email, invite: true })
    expect(created.statusCode).toBe(201)
    expect(json(await login(email)).code).toBe('INVALID_CREDENTIALS')
    const mail = (await mailsTo(email)).at(-1)
    expect(mail?.subject).toMatch(/You have a Tessera account/)
    const link = [...(mail?.text ?? '').matchAll(/https?:\/\/\S+/g)]
      .map((match) => new URL(match[0]))
      .find((url) => url.pathname === '/reset-password')
    const reset = await inject('POST', '/auth/reset-password', undefined, {
      token: link?.searchParams.get('token'),
      password: PASSWORD,
    })
    expect(reset.statusCode).toBe(204)
    expect((await login(email)).statusCode).toBe(200)
  })
})
