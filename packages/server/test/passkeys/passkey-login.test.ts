import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { epochSeconds } from '../../src/clock.js'
import { bearer, cookiesOf, json, refreshWith, startTestServer, type TestServer } from '../helpers/server.js'
import { claimsOf, codeOf, post, verifiedUser } from '../mfa/mfa-helpers.js'
import { addPasskey, loginOptions, passkeyLogin } from './passkey-helpers.js'
import { softAuthenticator } from './soft-authenticator.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

type Tokens = { accessToken: string; refreshToken: string; user: { id: string } }

const verifyLogin = (payload: object) =>
  post(server, '/auth/passkeys/login/verify', { tokenDelivery: 'body', ...payload })

describe('sign-in with a passkey alone', () => {
  it('offers discoverable-credential options: no allowed credentials, user verification required', async () => {
    const { challengeId, options } = await loginOptions(server)
    expect(challengeId).toMatch(/^[0-9a-f-]{36}$/)
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required', timeout: 300_000 })
    expect(options.allowCredentials).toBeUndefined()
  })

  it('signs in a device-bound passkey with amr hwk, user, mfa and acr urn:tessera:mfa, kept across a refresh', async () => {
    const user = await verifiedUser(server)
    const { authenticator, id } = await addPasskey(server, user)
    server.clock.advance(60)
    const response = await passkeyLogin(server, authenticator)
    expect(response.statusCode).toBe(200)
    const tokens = json<Tokens>(response)
    expect(tokens.user.id).toBe(user.userId)
    const claims = claimsOf(tokens.accessToken)
    expect(claims).toMatchObject({
      sub: user.userId,
      amr: ['hwk', 'user', 'mfa'],
      acr: 'urn:tessera:mfa',
      auth_time: epochSeconds(server.clock.now()),
    })
    expect(claims.sid).not.toBe(claimsOf(user.accessToken).sid)

    // the counter and the time of use are kept
    const listed = await server.app.inject({
      method: 'GET',
      url: '/auth/passkeys',
      headers: bearer(tokens.accessToken),
    })
    expect(json<{ passkeys: { id: string; lastUsedAt: string }[] }>(listed).passkeys).toEqual([
      expect.objectContaining({ id, lastUsedAt: server.clock.now().toISOString() }),
    ])
    expect((await server.deps.stores.passkeys.findByCredentialId(authenticator.credentialId))?.counter).toBe(
      1,
    )

    server.clock.advance(600)
    const refreshed = await refreshWith(server.app, tokens.refreshToken)
    expect(claimsOf(json<Tokens>(refreshed).accessToken)).toMatchObject({
      amr: ['hwk', 'user', 'mfa'],
      auth_time: claims.auth_time,
    })
  })

  it('claims swk for a synced (backup-eligible) passkey, and keeps its backup state', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user, { backupEligible: true })
    const response = await passkeyLogin(server, authenticator)
    expect(claimsOf(json<Tokens>(response).accessToken).amr).toEqual(['swk', 'user', 'mfa'])
    const stored = await server.deps.stores.passkeys.findByCredentialId(authenticator.credentialId)
    expect(stored).toMatchObject({ deviceType: 'multiDevice', backedUp: true })
  })

  it('sets the refresh cookie in cookie mode, as login does', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const request = await loginOptions(server)
    const response = await post(server, '/auth/passkeys/login/verify', {
      challengeId: request.challengeId,
      response: authenticator.authenticate(request.options),
    })
    expect(response.statusCode).toBe(200)
    expect(json(response).refreshToken).toBeUndefined()
    expect(cookiesOf(response).get('tessera_refresh')).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
  })

  it('refuses an unknown passkey with PASSKEY_INVALID', async () => {
    const response = await passkeyLogin(server, softAuthenticator())
    expect(response.statusCode).toBe(401)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(codeOf(response)).toBe('PASSKEY_INVALID')
  })

  it('refuses an answer from another origin, for another RP id, to another challenge, or without user verification', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const other = await loginOptions(server)
    for (const overrides of [
      { origin: 'https://evil.example' },
      { rpId: 'evil.example' },
      { challenge: other.options.challenge },
      { userVerified: false },
    ]) {
      const request = await loginOptions(server)
      const response = await verifyLogin({
        challengeId: request.challengeId,
        response: authenticator.authenticate(request.options, overrides),
      })
      expect(response.statusCode).toBe(401)
      expect(codeOf(response)).toBe('PASSKEY_INVALID')
    }
  })

  it("refuses an answer whose user handle is not the passkey owner's", async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const other = await verifiedUser(server)
    const request = await loginOptions(server)
    const response = await verifyLogin({
      challengeId: request.challengeId,
      response: authenticator.authenticate(request.options, {
        userHandle: Buffer.from(other.userId).toString('base64url'),
      }),
    })
    expect(codeOf(response)).toBe('PASSKEY_INVALID')
  })

  it('takes the nulls some browsers write for an unknown attachment and an absent user handle', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const request = await loginOptions(server)
    const answer = authenticator.authenticate(request.options)
    const response = await verifyLogin({
      challengeId: request.challengeId,
      response: {
        ...answer,
        authenticatorAttachment: null,
        response: { ...answer.response, userHandle: null },
      },
    })
    expect(response.statusCode).toBe(200)
  })

  it('refuses a counter that did not move forward (a cloned authenticator)', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    expect((await passkeyLogin(server, authenticator)).statusCode).toBe(200)
    expect((await passkeyLogin(server, authenticator)).statusCode).toBe(200)
    const request = await loginOptions(server)
    const response = await verifyLogin({
      challengeId: request.challengeId,
      response: authenticator.authenticate(request.options, { counter: 1 }),
    })
    expect(codeOf(response)).toBe('PASSKEY_INVALID')
    expect((await server.deps.stores.passkeys.findByCredentialId(authenticator.credentialId))?.counter).toBe(
      2,
    )
  })

  it('refuses a used challenge and an expired one with CHALLENGE_INVALID', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const request = await loginOptions(server)
    expect(
      (
        await verifyLogin({
          challengeId: request.challengeId,
          response: authenticator.authenticate(request.options),
        })
      ).statusCode,
    ).toBe(200)
    const reused = await verifyLogin({
      challengeId: request.challengeId,
      response: authenticator.authenticate(request.options),
    })
    expect(reused.statusCode).toBe(400)
    expect(codeOf(reused)).toBe('CHALLENGE_INVALID')

    const late = await loginOptions(server)
    server.clock.advance(301)
    const expired = await verifyLogin({
      challengeId: late.challengeId,
      response: authenticator.authenticate(late.options),
    })
    expect(codeOf(expired)).toBe('CHALLENGE_INVALID')

    // a challenge made for something else is no login challenge
    const registration = await post(
      server,
      '/auth/passkeys/register/options',
      {},
      (await verifiedUser(server)).accessToken,
    )
    const { challengeId } = json<{ challengeId: string }>(registration)
    const wrongPurpose = await verifyLogin({
      challengeId,
      response: authenticator.authenticate(late.options),
    })
    expect(codeOf(wrongPurpose)).toBe('CHALLENGE_INVALID')
  })

  it('refuses a disabled account with ACCOUNT_DISABLED', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    await server.deps.stores.users.setDisabled(user.userId, server.clock.now(), server.clock.now())
    const response = await passkeyLogin(server, authenticator)
    expect(response.statusCode).toBe(403)
    expect(codeOf(response)).toBe('ACCOUNT_DISABLED')
  })

  it('records failures and successes in the audit log', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const request = await loginOptions(server)
    await verifyLogin({
      challengeId: request.challengeId,
      response: authenticator.authenticate(request.options, { origin: 'https://evil.example' }),
    })
    await passkeyLogin(server, authenticator)
    // rows are written after the answer
    await vi.waitFor(
      async () => {
        const events = await server.deps.stores.authEvents.listForUser(user.userId, 20)
        expect(events.map((event) => [event.type, event.detail])).toEqual(
          expect.arrayContaining([
            ['mfa_enrolled', expect.objectContaining({ method: 'passkey' })],
            ['login_failed', { method: 'passkey', reason: 'verification_failed' }],
            ['login_succeeded', expect.objectContaining({ method: 'passkey' })],
          ]),
        )
      },
      { timeout: 5000, interval: 20 },
    )
  })
})
