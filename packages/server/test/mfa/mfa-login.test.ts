import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochSeconds } from '../../src/clock.js'
import { bearer, json, refreshWith, startTestServer, type TestServer } from '../helpers/server.js'
import { claimsOf, codeAt, codeOf, enrolledUser, login, mfaTokenFor, verify } from './mfa-helpers.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

type Tokens = { accessToken: string; refreshToken: string; user: { id: string } }

describe('login with a second factor', () => {
  it('answers mfa_required without tokens, then verify with a TOTP code gives tokens with amr pwd, otp, mfa', async () => {
    const user = await enrolledUser(server)
    const first = await login(server, user)
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
    const tokens = json<Tokens>(verified)
    expect(tokens.user.id).toBe(user.userId)
    const claims = claimsOf(tokens.accessToken)
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa'])
    expect(claims.acr).toBe('urn:tessera:mfa')
    expect(claims.auth_time).toBe(epochSeconds(server.clock.now()))

    // the mfaToken is spent
    const again = await verify(server, { mfaToken: challenge.mfaToken, code: codeAt(user.secret, server) })
    expect(again.statusCode).toBe(401)
    expect(codeOf(again)).toBe('MFA_TOKEN_INVALID')
  })

  it('refuses the same TOTP code a second time, within its window', async () => {
    const user = await enrolledUser(server)
    const code = codeAt(user.secret, server)
    expect((await verify(server, { mfaToken: await mfaTokenFor(server, user), code })).statusCode).toBe(200)
    server.clock.advance(5)
    const replay = await verify(server, { mfaToken: await mfaTokenFor(server, user), code })
    expect(replay.statusCode).toBe(401)
    expect(codeOf(replay)).toBe('MFA_CODE_INVALID')
    // the next step's code is fine
    server.clock.advance(30)
    const next = await verify(server, {
      mfaToken: await mfaTokenFor(server, user),
      code: codeAt(user.secret, server),
    })
    expect(next.statusCode).toBe(200)
  })

  it('accepts a recovery code once, with amr pwd, otp, mfa', async () => {
    const user = await enrolledUser(server)
    const [recoveryCode = ''] = user.recoveryCodes
    // as typed: upper case, without dashes
    const typed = recoveryCode.replaceAll('-', '').toUpperCase()
    const first = await verify(server, { mfaToken: await mfaTokenFor(server, user), recoveryCode: typed })
    expect(first.statusCode).toBe(200)
    expect(claimsOf(json<Tokens>(first).accessToken).amr).toEqual(['pwd', 'otp', 'mfa'])
    const second = await verify(server, { mfaToken: await mfaTokenFor(server, user), recoveryCode })
    expect(second.statusCode).toBe(401)
    expect(codeOf(second)).toBe('MFA_CODE_INVALID')
  })

  it('kills the mfaToken after 5 wrong codes: then even the right code is MFA_TOKEN_INVALID', async () => {
    const user = await enrolledUser(server)
    const mfaToken = await mfaTokenFor(server, user)
    const right = codeAt(user.secret, server)
    const wrongCode = right === '000000' ? '111111' : '000000'
    for (let attempt = 1; attempt <= 5; attempt++) {
      const wrong = await verify(server, { mfaToken, code: wrongCode })
      expect(wrong.statusCode).toBe(401)
      expect(codeOf(wrong)).toBe('MFA_CODE_INVALID')
    }
    const dead = await verify(server, { mfaToken, code: right })
    expect(dead.statusCode).toBe(401)
    expect(codeOf(dead)).toBe('MFA_TOKEN_INVALID')
  })

  it('lets an mfaToken expire after 5 minutes', async () => {
    const user = await enrolledUser(server)
    const mfaToken = await mfaTokenFor(server, user)
    server.clock.advance(301)
    const late = await verify(server, { mfaToken, code: codeAt(user.secret, server) })
    expect(codeOf(late)).toBe('MFA_TOKEN_INVALID')
  })

  it('refuses a body with neither or both of code and recoveryCode', async () => {
    const user = await enrolledUser(server)
    const mfaToken = await mfaTokenFor(server, user)
    expect((await verify(server, { mfaToken })).statusCode).toBe(400)
    const both = await verify(server, { mfaToken, code: '123456', recoveryCode: 'abcd-efgh-ijkl-mnop' })
    expect(codeOf(both)).toBe('VALIDATION_FAILED')
  })

  it('keeps amr, acr and auth_time across refreshes', async () => {
    const user = await enrolledUser(server)
    const signedInAt = epochSeconds(server.clock.now())
    const verified = await verify(server, {
      mfaToken: await mfaTokenFor(server, user),
      code: codeAt(user.secret, server),
    })
    const tokens = json<Tokens>(verified)
    server.clock.advance(600)
    const refreshed = await refreshWith(server.app, tokens.refreshToken)
    expect(refreshed.statusCode).toBe(200)
    const claims = claimsOf(json<Tokens>(refreshed).accessToken)
    expect(claims).toMatchObject({
      amr: ['pwd', 'otp', 'mfa'],
      acr: 'urn:tessera:mfa',
      auth_time: signedInAt,
    })
    expect(claims.iat).toBe(signedInAt + 600)
  })
})

describe('login with a second factor and the lockout', () => {
  let limited: TestServer
  beforeAll(async () => {
    limited = await startTestServer({ TESSERA_RATE_LIMIT: 'on', TESSERA_LOCKOUT_THRESHOLD: '3' })
  })
  afterAll(() => limited.close())

  it('counts wrong codes toward the account lockout', async () => {
    const user = await enrolledUser(limited)
    const mfaToken = await mfaTokenFor(limited, user)
    const right = codeAt(user.secret, limited)
    const wrongCode = right === '000000' ? '111111' : '000000'
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(codeOf(await verify(limited, { mfaToken, code: wrongCode }))).toBe('MFA_CODE_INVALID')
    }
    const locked = await verify(limited, { mfaToken, code: right })
    expect(locked.statusCode).toBe(423)
    expect(codeOf(locked)).toBe('ACCOUNT_LOCKED')
  })

  it('voids a waiting mfaToken when the password changes or the user signs out everywhere', async () => {
    const user = await enrolledUser(server)
    const changed = await mfaTokenFor(server, user)
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(user.accessToken),
      payload: { currentPassword: user.password, newPassword: 'a new and long passphrase 42' },
    })
    expect(response.statusCode, response.body).toBe(204)
    const afterChange = await verify(server, { mfaToken: changed, code: codeAt(user.secret, server) })
    expect(codeOf(afterChange)).toBe('MFA_TOKEN_INVALID')

    const other = await enrolledUser(server)
    const waiting = await mfaTokenFor(server, other)
    const out = await server.app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: bearer(other.accessToken),
    })
    expect(out.statusCode).toBe(204)
    const afterLogout = await verify(server, { mfaToken: waiting, code: codeAt(other.secret, server) })
    expect(codeOf(afterLogout)).toBe('MFA_TOKEN_INVALID')
  })
})
