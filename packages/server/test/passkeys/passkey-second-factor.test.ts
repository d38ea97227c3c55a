import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochSeconds } from '../../src/clock.js'
import { json, startTestServer, type TestServer } from '../helpers/server.js'
import {
  claimsOf,
  codeAt,
  codeOf,
  enrolledUser,
  login,
  mfaTokenFor,
  post,
  verifiedUser,
  verify,
} from '../mfa/mfa-helpers.js'
import { addPasskey, factorOptions } from './passkey-helpers.js'
import { softAuthenticator } from './soft-authenticator.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

type Tokens = { accessToken: string; refreshToken: string; user: { id: string } }

describe('a passkey as the second factor after a password', () => {
  it('answers mfa_required with passkey, then verify with the passkey gives amr pwd, hwk, user, mfa', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const first = await login(server, user)
    const challenge = json<{ status: string; mfaToken: string; methods: string[] }>(first)
    expect(challenge).toMatchObject({ status: 'mfa_required', methods: ['passkey'] })

    const request = await factorOptions(server, { mfaToken: challenge.mfaToken })
    expect(request.options).toMatchObject({
      rpId: 'localhost',
      userVerification: 'preferred',
      allowCredentials: [{ id: authenticator.credentialId, type: 'public-key', transports: ['internal'] }],
    })
    const verified = await verify(server, {
      mfaToken: challenge.mfaToken,
      challengeId: request.challengeId,
      passkey: authenticator.authenticate(request.options),
    })
    expect(verified.statusCode).toBe(200)
    const claims = claimsOf(json<Tokens>(verified).accessToken)
    expect(claims).toMatchObject({
      sub: user.userId,
      amr: ['pwd', 'hwk', 'user', 'mfa'],
      acr: 'urn:tessera:mfa',
      auth_time: epochSeconds(server.clock.now()),
    })
  })

  it('without user verification the passkey is still the second factor: amr pwd, hwk, mfa', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const mfaToken = await mfaTokenFor(server, user)
    const request = await factorOptions(server, { mfaToken })
    const verified = await verify(server, {
      mfaToken,
      challengeId: request.challengeId,
      passkey: authenticator.authenticate(request.options, { userVerified: false }),
    })
    expect(claimsOf(json<Tokens>(verified).accessToken).amr).toEqual(['pwd', 'hwk', 'mfa'])
  })

  it('offers every factor of a user with TOTP and a passkey', async () => {
    const user = await enrolledUser(server)
    await addPasskey(server, user)
    const challenge = json<{ methods: string[] }>(await login(server, user))
    expect(challenge.methods).toEqual(['totp', 'recovery_code', 'passkey'])
    // a code still does
    const verified = await verify(server, {
      mfaToken: await mfaTokenFor(server, user),
      code: codeAt(user.secret, server),
    })
    expect(verified.statusCode).toBe(200)
  })

  it("refuses another user's passkey with PASSKEY_INVALID, counted against the mfaToken", async () => {
    const user = await verifiedUser(server)
    await addPasskey(server, user)
    const stranger = await verifiedUser(server)
    const { authenticator: strangers } = await addPasskey(server, stranger)
    const mfaToken = await mfaTokenFor(server, user)
    for (let attempt = 1; attempt <= 5; attempt++) {
      const request = await factorOptions(server, { mfaToken })
      const response = await verify(server, {
        mfaToken,
        challengeId: request.challengeId,
        passkey: strangers.authenticate(request.options),
      })
      expect(response.statusCode).toBe(401)
      expect(codeOf(response)).toBe('PASSKEY_INVALID')
    }
    // five wrong answers kill the sign-in
    const dead = await post(server, '/auth/mfa/passkey/options', { mfaToken })
    expect(codeOf(dead)).toBe('MFA_TOKEN_INVALID')
  })

  it('refuses a challenge of another sign-in, a reused one and an expired one with CHALLENGE_INVALID', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const mfaToken = await mfaTokenFor(server, user)
    const otherSignIn = await factorOptions(server, { mfaToken: await mfaTokenFor(server, user) })
    const foreign = await verify(server, {
      mfaToken,
      challengeId: otherSignIn.challengeId,
      passkey: authenticator.authenticate(otherSignIn.options),
    })
    expect(foreign.statusCode).toBe(400)
    expect(codeOf(foreign)).toBe('CHALLENGE_INVALID')

    // a step-up challenge is no sign-in challenge
    const stepUp = await factorOptions(server, { accessToken: user.accessToken })
    const wrongPurpose = await verify(server, {
      mfaToken,
      challengeId: stepUp.challengeId,
      passkey: authenticator.authenticate(stepUp.options),
    })
    expect(codeOf(wrongPurpose)).toBe('CHALLENGE_INVALID')

    const request = await factorOptions(server, { mfaToken })
    server.clock.advance(301)
    const expired = await verify(server, {
      mfaToken: await mfaTokenFor(server, user),
      challengeId: request.challengeId,
      passkey: authenticator.authenticate(request.options),
    })
    expect(codeOf(expired)).toBe('CHALLENGE_INVALID')
  })

  it('refuses a passkey without its challengeId, or with a code beside it', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const mfaToken = await mfaTokenFor(server, user)
    const request = await factorOptions(server, { mfaToken })
    const passkey = authenticator.authenticate(request.options)
    expect(codeOf(await verify(server, { mfaToken, passkey }))).toBe('VALIDATION_FAILED')
    expect(
      codeOf(await verify(server, { mfaToken, passkey, challengeId: request.challengeId, code: '123456' })),
    ).toBe('VALIDATION_FAILED')
    expect(codeOf(await verify(server, { mfaToken, code: '123456', challengeId: request.challengeId }))).toBe(
      'VALIDATION_FAILED',
    )
  })

  it('answers 404 for passkey options of an account without a passkey, and MFA_TOKEN_INVALID for a bad token', async () => {
    const user = await enrolledUser(server)
    const response = await post(server, '/auth/mfa/passkey/options', {
      mfaToken: await mfaTokenFor(server, user),
    })
    expect(response.statusCode).toBe(404)
    expect(codeOf(await post(server, '/auth/mfa/passkey/options', { mfaToken: 'x'.repeat(43) }))).toBe(
      'MFA_TOKEN_INVALID',
    )
    expect(codeOf(await post(server, '/auth/mfa/passkey/options', {}))).toBe('TOKEN_MISSING')
  })
})

describe('step-up with a passkey', () => {
  it('renews auth_time for the same session and adds hwk, user, mfa to amr', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    server.clock.advance(600)
    // the password alone no longer steps up
    const password = await post(server, '/auth/mfa/step-up', { password: user.password }, user.accessToken)
    expect(password.statusCode).toBe(400)
    const request = await factorOptions(server, { accessToken: user.accessToken })
    expect(request.options.allowCredentials).toEqual([
      { id: authenticator.credentialId, type: 'public-key', transports: ['internal'] },
    ])
    const stepped = await post(
      server,
      '/auth/mfa/step-up',
      { challengeId: request.challengeId, passkey: authenticator.authenticate(request.options) },
      user.accessToken,
    )
    expect(stepped.statusCode).toBe(200)
    const claims = claimsOf(json<{ accessToken: string }>(stepped).accessToken)
    expect(claims).toMatchObject({
      sid: claimsOf(user.accessToken).sid,
      amr: ['pwd', 'hwk', 'user', 'mfa'],
      acr: 'urn:tessera:mfa',
      auth_time: epochSeconds(server.clock.now()),
    })
  })

  it("refuses another user's passkey, a used challenge and another user's challenge", async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const stranger = await verifiedUser(server)
    const { authenticator: strangers } = await addPasskey(server, stranger)
    const request = await factorOptions(server, { accessToken: user.accessToken })
    const foreignKey = await post(
      server,
      '/auth/mfa/step-up',
      { challengeId: request.challengeId, passkey: strangers.authenticate(request.options) },
      user.accessToken,
    )
    expect(foreignKey.statusCode).toBe(401)
    expect(codeOf(foreignKey)).toBe('PASSKEY_INVALID')
    const reused = await post(
      server,
      '/auth/mfa/step-up',
      { challengeId: request.challengeId, passkey: authenticator.authenticate(request.options) },
      user.accessToken,
    )
    expect(codeOf(reused)).toBe('CHALLENGE_INVALID')
    const theirs = await factorOptions(server, { accessToken: stranger.accessToken })
    const foreignChallenge = await post(
      server,
      '/auth/mfa/step-up',
      { challengeId: theirs.challengeId, passkey: authenticator.authenticate(theirs.options) },
      user.accessToken,
    )
    expect(codeOf(foreignChallenge)).toBe('CHALLENGE_INVALID')
  })

  it('refuses an unknown passkey at step-up', async () => {
    const user = await verifiedUser(server)
    await addPasskey(server, user)
    const request = await factorOptions(server, { accessToken: user.accessToken })
    const response = await post(
      server,
      '/auth/mfa/step-up',
      { challengeId: request.challengeId, passkey: softAuthenticator().authenticate(request.options) },
      user.accessToken,
    )
    expect(codeOf(response)).toBe('PASSKEY_INVALID')
  })
})
