import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochSeconds } from '../../src/clock.js'
import { json, refreshWith, registerUser, startTestServer, type TestServer } from '../helpers/server.js'
import { claimsOf, codeAt, codeOf, enrolledUser, post } from './mfa-helpers.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

type Tokens = { accessToken: string; refreshToken?: string; expiresIn: number }

describe('POST /auth/mfa/step-up', () => {
  it('renews auth_time with the password for a user without a factor, keeping the session and amr pwd', async () => {
    const user = await registerUser(server.app)
    const before = claimsOf(user.accessToken)
    expect(before).toMatchObject({
      amr: ['pwd'],
      acr: 'urn:tessera:pwd',
      auth_time: epochSeconds(server.clock.now()),
    })
    server.clock.advance(400)
    const stepped = await post(server, '/auth/mfa/step-up', { password: user.password }, user.accessToken)
    expect(stepped.statusCode).toBe(200)
    const body = json<Tokens>(stepped)
    expect(body.refreshToken).toBeUndefined()
    expect(body.expiresIn).toBe(900)
    const after = claimsOf(body.accessToken)
    expect(after.sid).toBe(before.sid)
    expect(after).toMatchObject({
      amr: ['pwd'],
      acr: 'urn:tessera:pwd',
      auth_time: epochSeconds(server.clock.now()),
    })

    // the session keeps the renewed auth_time across a refresh
    server.clock.advance(60)
    const refreshed = await refreshWith(server.app, user.refreshToken)
    expect(claimsOf(json<Tokens>(refreshed).accessToken).auth_time).toBe(after.auth_time)
  })

  it('refuses a wrong password with INVALID_CREDENTIALS', async () => {
    const user = await registerUser(server.app)
    const wrong = await post(server, '/auth/mfa/step-up', { password: 'not the password' }, user.accessToken)
    expect(wrong.statusCode).toBe(401)
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS')
  })

  it('with TOTP: a code renews auth_time and makes the session multi-factor; the password alone is refused', async () => {
    const user = await enrolledUser(server)
    // the session opened at registration, with the password only
    expect(claimsOf(user.accessToken).amr).toEqual(['pwd'])
    server.clock.advance(600)
    const password = await post(server, '/auth/mfa/step-up', { password: user.password }, user.accessToken)
    expect(password.statusCode).toBe(400)
    const stepped = await post(
      server,
      '/auth/mfa/step-up',
      { code: codeAt(user.secret, server) },
      user.accessToken,
    )
    expect(stepped.statusCode).toBe(200)
    const claims = claimsOf(json<Tokens>(stepped).accessToken)
    expect(claims).toMatchObject({
      sid: claimsOf(user.accessToken).sid,
      amr: ['pwd', 'otp', 'mfa'],
      acr: 'urn:tessera:mfa',
      auth_time: epochSeconds(server.clock.now()),
    })
    const replay = await post(
      server,
      '/auth/mfa/step-up',
      { code: codeAt(user.secret, server) },
      user.accessToken,
    )
    expect(codeOf(replay)).toBe('MFA_CODE_INVALID')
  })
})
