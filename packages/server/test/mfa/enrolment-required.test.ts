import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { bearer, json, registerUser, startTestServer, type TestServer } from '../helpers/server.js'
import { registrationOptions } from '../passkeys/passkey-helpers.js'
import { softAuthenticator } from '../passkeys/soft-authenticator.js'
import { claimsOf, codeAt, codeOf, login, post, verifiedUser, verify } from './mfa-helpers.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_MFA_REQUIRED_ROLES: 'admin, auditor' })
})
afterAll(() => server.close())

type Enrolment = { status: string; enrollmentToken: string }
type Tokens = { accessToken: string; refreshToken: string; user: { id: string }; recoveryCodes: string[] }

/** A verified user holding `roles`, logged in up to the enrolment token. */
async function enrollingUser(roles = ['admin']) {
  const user = await verifiedUser(server)
  await server.deps.stores.users.setRoles(user.userId, roles, server.clock.now())
  const response = await login(server, user)
  expect(response.statusCode, response.body).toBe(200)
  return { ...user, enrollmentToken: json<Enrolment>(response).enrollmentToken }
}

const setup = (token: string) => post(server, '/auth/mfa/totp/setup', {}, token)
const confirm = (token: string, code: string) =>
  post(server, '/auth/mfa/totp/confirm', { code, tokenDelivery: 'body' }, token)
const secretOf = (response: { body: string }) => (JSON.parse(response.body) as { secret: string }).secret
const wrongCodeFor = (right: string) => (right === '000000' ? '111111' : '000000')

async function eventsOf(userId: string, type: string) {
  return vi.waitFor(async () => {
    const rows = await server.database.handle.db
      .selectFrom('auth_events')
      .select(['type', 'detail', 'session_id'])
      .where('user_id', '=', userId)
      .where('type', '=', type)
      .execute()
    if (rows.length === 0) throw new Error(`no ${type} event yet`)
    return rows
  })
}

describe('TESSERA_MFA_REQUIRED_ROLES', () => {
  it('answers a holder of the role without a factor mfa_enrollment_required, with no tokens', async () => {
    const user = await verifiedUser(server)
    await server.deps.stores.users.setRoles(user.userId, ['auditor'], server.clock.now())
    const response = await login(server, user)
    expect(response.statusCode).toBe(200)
    expect(response.headers['set-cookie']).toBeUndefined()
    expect(response.headers['cache-control']).toBe('no-store')
    expect(json(response)).toEqual({
      status: 'mfa_enrollment_required',
      enrollmentToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    })
    expect(await eventsOf(user.userId, 'mfa_enrolment_required')).toEqual([
      { type: 'mfa_enrolment_required', detail: { after: 'pwd' }, session_id: null },
    ])
  })

  it('enrols TOTP with the enrolment token, and the confirm signs in with amr pwd, otp, mfa', async () => {
    const user = await enrollingUser()
    const started = await setup(user.enrollmentToken)
    expect(started.statusCode, started.body).toBe(200)
    const secret = secretOf(started)

    const confirmed = await confirm(user.enrollmentToken, codeAt(secret, server))
    expect(confirmed.statusCode, confirmed.body).toBe(200)
    expect(confirmed.headers['cache-control']).toBe('no-store')
    const body = json<Tokens>(confirmed)
    expect(body.recoveryCodes).toHaveLength(10)
    expect(body.user.id).toBe(user.userId)
    expect(body.refreshToken).toEqual(expect.any(String))
    const claims = claimsOf(body.accessToken)
    expect(claims).toMatchObject({ sub: user.userId, amr: ['pwd', 'otp', 'mfa'], acr: 'urn:tessera:mfa' })

    // a real session: the access token works and the refresh token rotates
    expect((await server.app.inject({ url: '/auth/me', headers: bearer(body.accessToken) })).statusCode).toBe(
      200,
    )
    const refreshed = await post(server, '/auth/refresh', {
      refreshToken: body.refreshToken,
      tokenDelivery: 'body',
    })
    expect(refreshed.statusCode).toBe(200)
    expect(claimsOf(json<Tokens>(refreshed).accessToken).amr).toEqual(['pwd', 'otp', 'mfa'])

    // the enrolment token is spent; the next login asks for the new factor
    const reused = await setup(user.enrollmentToken)
    expect(reused.statusCode).toBe(401)
    expect(codeOf(reused)).toBe('MFA_TOKEN_INVALID')
    const next = await login(server, user)
    expect(json(next)).toMatchObject({ status: 'mfa_required', methods: ['totp', 'recovery_code'] })
    const enrolled = await eventsOf(user.userId, 'mfa_enrolled')
    expect(enrolled[0]?.session_id).toBe(claims.sid)
  })

  it('enrols a passkey with the enrolment token instead, which signs in with amr pwd, hwk, user, mfa', async () => {
    const user = await enrollingUser()
    const authenticator = softAuthenticator()
    const creation = await registrationOptions(server, user.enrollmentToken)
    const registered = await post(
      server,
      '/auth/passkeys/register/verify',
      {
        challengeId: creation.challengeId,
        response: authenticator.register(creation.options),
        name: 'Security key',
        tokenDelivery: 'body',
      },
      user.enrollmentToken,
    )
    expect(registered.statusCode, registered.body).toBe(201)
    const body = json<Tokens & { passkey: { id: string; name: string } }>(registered)
    expect(body.passkey).toMatchObject({ name: 'Security key' })
    expect(body.refreshToken).toEqual(expect.any(String))
    expect(claimsOf(body.accessToken)).toMatchObject({
      sub: user.userId,
      amr: ['pwd', 'hwk', 'user', 'mfa'],
      acr: 'urn:tessera:mfa',
    })
    // spent; the next login asks for the passkey
    const again = await post(server, '/auth/passkeys/register/options', {}, user.enrollmentToken)
    expect(codeOf(again)).toBe('MFA_TOKEN_INVALID')
    expect(json(await login(server, user))).toMatchObject({ status: 'mfa_required', methods: ['passkey'] })
  })

  it('ends every other enrolment of the user once a factor is confirmed: a second login cannot add its own', async () => {
    const user = await enrollingUser()
    // a second login with the same password (the owner's, or a thief's) waits with its own token
    const other = json<Enrolment>(await login(server, user)).enrollmentToken
    const secret = secretOf(await setup(user.enrollmentToken))
    expect((await confirm(user.enrollmentToken, codeAt(secret, server))).statusCode).toBe(200)
    for (const url of ['/auth/mfa/totp/setup', '/auth/passkeys/register/options']) {
      const refused = await post(server, url, {}, other)
      expect(refused.statusCode, url).toBe(401)
      expect(codeOf(refused), url).toBe('MFA_TOKEN_INVALID')
    }
  })

  it('delivers the refresh token in the cookie by default at the confirm', async () => {
    const user = await enrollingUser()
    const secret = secretOf(await setup(user.enrollmentToken))
    const confirmed = await post(
      server,
      '/auth/mfa/totp/confirm',
      { code: codeAt(secret, server) },
      user.enrollmentToken,
    )
    expect(confirmed.statusCode).toBe(200)
    expect(json(confirmed)).not.toHaveProperty('refreshToken')
    expect(confirmed.cookies.map((cookie) => cookie.name)).toContain('tessera_refresh')
  })

  it('serves only the enrolment routes: any other Bearer route refuses the enrolment token', async () => {
    const user = await enrollingUser()
    for (const url of ['/auth/me', '/auth/mfa', '/auth/sessions', '/auth/passkeys']) {
      const response = await server.app.inject({ url, headers: bearer(user.enrollmentToken) })
      expect(response.statusCode, url).toBe(401)
      expect(codeOf(response), url).toBe('TOKEN_INVALID')
    }
    // nor is it an mfaToken, nor an mfaToken an enrolment token
    const asMfaToken = await verify(server, { mfaToken: user.enrollmentToken, code: '123456' })
    expect(codeOf(asMfaToken)).toBe('MFA_TOKEN_INVALID')
  })

  it('kills the enrolment token after 5 wrong codes at the confirm', async () => {
    const user = await enrollingUser()
    const secret = secretOf(await setup(user.enrollmentToken))
    const right = codeAt(secret, server)
    for (let attempt = 1; attempt <= 5; attempt++) {
      const wrong = await confirm(user.enrollmentToken, wrongCodeFor(right))
      expect(wrong.statusCode).toBe(401)
      expect(codeOf(wrong)).toBe('MFA_CODE_INVALID')
    }
    const dead = await confirm(user.enrollmentToken, right)
    expect(dead.statusCode).toBe(401)
    expect(codeOf(dead)).toBe('MFA_TOKEN_INVALID')
    expect((await eventsOf(user.userId, 'mfa_failed')).length).toBeGreaterThanOrEqual(5)
  })

  it('lets the enrolment token live 15 minutes', async () => {
    const user = await enrollingUser()
    server.clock.advance(15 * 60 + 1)
    const late = await setup(user.enrollmentToken)
    expect(late.statusCode).toBe(401)
    expect(codeOf(late)).toBe('MFA_TOKEN_INVALID')
  })

  it('refuses the login of a holder whose email is not verified: enrolling would need it', async () => {
    const user = await registerUser(server.app)
    await server.deps.stores.users.setRoles(user.userId, ['admin'], server.clock.now())
    const response = await login(server, user)
    expect(response.statusCode).toBe(403)
    expect(codeOf(response)).toBe('EMAIL_NOT_VERIFIED')
  })

  it('signs in users without those roles as before, and a holder with a factor gets mfa_required', async () => {
    const plain = await verifiedUser(server)
    await server.deps.stores.users.setRoles(plain.userId, ['editor'], server.clock.now())
    const response = await login(server, plain)
    expect(response.statusCode).toBe(200)
    expect(json(response)).toHaveProperty('accessToken')
  })

  it('refuses a disabled user at the enrolment routes', async () => {
    const user = await enrollingUser()
    await server.deps.stores.users.setDisabled(user.userId, server.clock.now(), server.clock.now())
    const response = await setup(user.enrollmentToken)
    expect(response.statusCode).toBe(403)
    expect(codeOf(response)).toBe('ACCOUNT_DISABLED')
  })
})

describe('TESSERA_MFA_REQUIRED_ROLES configuration', () => {
  const parse = (value: string) =>
    parseConfig({ DATABASE_URL: 'memory://', TESSERA_MFA_REQUIRED_ROLES: value })

  it('reads comma-separated role names, unset meaning none', () => {
    expect(parseConfig({ DATABASE_URL: 'memory://' }).mfaRequiredRoles).toEqual([])
    expect(parse(' admin , ops:billing,admin ').mfaRequiredRoles).toEqual(['admin', 'ops:billing'])
  })

  it('refuses what is not a role name, naming the variable', () => {
    expect(() => parse('admin, 1bad')).toThrow(/TESSERA_MFA_REQUIRED_ROLES.*"1bad" is not a role name/)
  })
})
