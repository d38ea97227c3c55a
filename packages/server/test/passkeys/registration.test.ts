import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordingMailer } from '../helpers/mail.js'
import { bearer, json, registerUser, startTestServer, type TestServer } from '../helpers/server.js'
import { codeOf, post, verifiedUser } from '../mfa/mfa-helpers.js'
import { addPasskey, registrationOptions } from './passkey-helpers.js'
import { softAuthenticator } from './soft-authenticator.js'

let server: TestServer
const mailer = recordingMailer()
beforeAll(async () => {
  server = await startTestServer({}, undefined, { mailer })
})
afterAll(() => server.close())

const list = (accessToken: string) =>
  server.app.inject({ method: 'GET', url: '/auth/passkeys', headers: bearer(accessToken) })
const remove = (accessToken: string, id: string) =>
  server.app.inject({ method: 'DELETE', url: `/auth/passkeys/${id}`, headers: bearer(accessToken) })

type Passkeys = { passkeys: { id: string; name: string; createdAt: string; lastUsedAt: string | null }[] }

describe('passkey registration', () => {
  it('offers creation options for a discoverable, user-verifying credential on the relying party', async () => {
    const user = await verifiedUser(server)
    const { challengeId, options } = await registrationOptions(server, user.accessToken)
    expect(challengeId).toMatch(/^[0-9a-f-]{36}$/)
    expect(options).toMatchObject({
      rp: { id: 'localhost', name: 'Tessera' },
      user: { name: user.email, id: Buffer.from(user.userId).toString('base64url') },
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      attestation: 'none',
      excludeCredentials: [],
      timeout: 300_000,
    })
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{40,}$/)
  })

  it('registers, lists and deletes a passkey; the user is mailed each time and GET /auth/mfa counts it', async () => {
    const user = await verifiedUser(server)
    const authenticator = softAuthenticator()
    const creation = await registrationOptions(server, user.accessToken)
    const sent = mailer.sent.length
    const verified = await post(
      server,
      '/auth/passkeys/register/verify',
      {
        challengeId: creation.challengeId,
        response: authenticator.register(creation.options),
        name: ' Laptop ',
      },
      user.accessToken,
    )
    expect(verified.statusCode).toBe(201)
    const { passkey } = json<{ passkey: { id: string; name: string; createdAt: string } }>(verified)
    expect(passkey).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Laptop',
      createdAt: server.clock.now().toISOString(),
    })
    expect(mailer.sent.slice(sent)).toEqual([
      expect.objectContaining({ to: user.email, kind: 'passkey-added' }),
    ])

    const listed = json<Passkeys>(await list(user.accessToken))
    expect(listed.passkeys).toEqual([{ ...passkey, lastUsedAt: null, backedUp: false }])
    const status = await server.app.inject({
      method: 'GET',
      url: '/auth/mfa',
      headers: bearer(user.accessToken),
    })
    expect(json(status)).toEqual({ totp: false, passkeys: 1, recoveryCodesLeft: 0 })

    // the next registration excludes it, and a second one without a name is numbered
    const next = await registrationOptions(server, user.accessToken)
    expect(next.options.excludeCredentials).toEqual([
      { id: authenticator.credentialId, type: 'public-key', transports: ['internal'] },
    ])
    server.clock.advance(1)
    const second = await addPasskey(server, user)
    expect(json<Passkeys>(await list(user.accessToken)).passkeys.map((item) => item.name)).toEqual([
      'Laptop',
      'Passkey 2',
    ])

    const deleted = await remove(user.accessToken, passkey.id)
    expect(deleted.statusCode).toBe(204)
    expect(mailer.sent.at(-1)).toMatchObject({ to: user.email, kind: 'passkey-removed' })
    expect(json<Passkeys>(await list(user.accessToken)).passkeys.map((item) => item.id)).toEqual([second.id])
    expect(codeOf(await remove(user.accessToken, passkey.id))).toBe('NOT_FOUND')
  })

  it("answers 404 for another user's passkey and leaves it alone", async () => {
    const owner = await verifiedUser(server)
    const { id } = await addPasskey(server, owner)
    const other = await verifiedUser(server)
    const response = await remove(other.accessToken, id)
    expect(response.statusCode).toBe(404)
    expect(codeOf(response)).toBe('NOT_FOUND')
    expect(json<Passkeys>(await list(owner.accessToken)).passkeys).toHaveLength(1)
    expect(json<Passkeys>(await list(other.accessToken)).passkeys).toEqual([])
  })

  it('refuses an unverified email with EMAIL_NOT_VERIFIED', async () => {
    const user = await registerUser(server.app)
    const response = await post(server, '/auth/passkeys/register/options', {}, user.accessToken)
    expect(response.statusCode).toBe(403)
    expect(codeOf(response)).toBe('EMAIL_NOT_VERIFIED')
  })

  it('needs a recent sign-in to register or delete: a stale auth_time is 401 STEP_UP_REQUIRED', async () => {
    const user = await verifiedUser(server)
    const { id } = await addPasskey(server, user)
    const creation = await registrationOptions(server, user.accessToken)
    server.clock.advance(301)
    for (const response of [
      await post(server, '/auth/passkeys/register/options', {}, user.accessToken),
      await post(
        server,
        '/auth/passkeys/register/verify',
        { challengeId: creation.challengeId, response: softAuthenticator().register(creation.options) },
        user.accessToken,
      ),
      await remove(user.accessToken, id),
    ]) {
      expect(response.statusCode).toBe(401)
      expect(codeOf(response)).toBe('STEP_UP_REQUIRED')
      expect(response.headers['www-authenticate']).toContain('max_age="300"')
    }
  })

  it('needs an access token', async () => {
    const response = await post(server, '/auth/passkeys/register/options', {})
    expect(codeOf(response)).toBe('TOKEN_MISSING')
  })
})

describe('passkey registration refuses', () => {
  it('an answer from another origin, with ATTESTATION_INVALID', async () => {
    const user = await verifiedUser(server)
    const creation = await registrationOptions(server, user.accessToken)
    const response = await post(
      server,
      '/auth/passkeys/register/verify',
      {
        challengeId: creation.challengeId,
        response: softAuthenticator().register(creation.options, { origin: 'https://evil.example' }),
      },
      user.accessToken,
    )
    expect(response.statusCode).toBe(400)
    expect(codeOf(response)).toBe('ATTESTATION_INVALID')
    expect(json<Passkeys>(await list(user.accessToken)).passkeys).toEqual([])
  })

  it('an answer to another challenge, for another RP id, or without user verification', async () => {
    const user = await verifiedUser(server)
    const other = await registrationOptions(server, user.accessToken)
    for (const overrides of [
      { challenge: other.options.challenge },
      { rpId: 'evil.example' },
      { userVerified: false },
    ]) {
      const creation = await registrationOptions(server, user.accessToken)
      const response = await post(
        server,
        '/auth/passkeys/register/verify',
        {
          challengeId: creation.challengeId,
          response: softAuthenticator().register(creation.options, overrides),
        },
        user.accessToken,
      )
      expect(codeOf(response)).toBe('ATTESTATION_INVALID')
    }
  })

  it('a used challenge, and one of another user, with CHALLENGE_INVALID', async () => {
    const user = await verifiedUser(server)
    const creation = await registrationOptions(server, user.accessToken)
    const answer = softAuthenticator().register(creation.options)
    const first = await post(
      server,
      '/auth/passkeys/register/verify',
      { challengeId: creation.challengeId, response: answer },
      user.accessToken,
    )
    expect(first.statusCode).toBe(201)
    const reused = await post(
      server,
      '/auth/passkeys/register/verify',
      { challengeId: creation.challengeId, response: softAuthenticator().register(creation.options) },
      user.accessToken,
    )
    expect(reused.statusCode).toBe(400)
    expect(codeOf(reused)).toBe('CHALLENGE_INVALID')

    const fresh = await verifiedUser(server)
    const stranger = await registrationOptions(server, fresh.accessToken)
    const foreign = await post(
      server,
      '/auth/passkeys/register/verify',
      { challengeId: stranger.challengeId, response: softAuthenticator().register(stranger.options) },
      (await verifiedUser(server)).accessToken,
    )
    expect(codeOf(foreign)).toBe('CHALLENGE_INVALID')
  })

  it('an expired challenge (the clock moved 5 minutes on) with CHALLENGE_INVALID', async () => {
    const user = await verifiedUser(server)
    const creation = await registrationOptions(server, user.accessToken)
    server.clock.advance(299)
    const stepped = await post(server, '/auth/mfa/step-up', { password: user.password }, user.accessToken)
    const accessToken = json<{ accessToken: string }>(stepped).accessToken
    server.clock.advance(2)
    const response = await post(
      server,
      '/auth/passkeys/register/verify',
      { challengeId: creation.challengeId, response: softAuthenticator().register(creation.options) },
      accessToken,
    )
    expect(response.statusCode).toBe(400)
    expect(codeOf(response)).toBe('CHALLENGE_INVALID')
  })

  it('a credential registered already, with PASSKEY_EXISTS', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    const creation = await registrationOptions(server, user.accessToken)
    const response = await post(
      server,
      '/auth/passkeys/register/verify',
      { challengeId: creation.challengeId, response: authenticator.register(creation.options) },
      user.accessToken,
    )
    expect(response.statusCode).toBe(409)
    expect(codeOf(response)).toBe('PASSKEY_EXISTS')
  })

  it('a malformed answer with 400, never a 5xx', async () => {
    const user = await verifiedUser(server)
    const creation = await registrationOptions(server, user.accessToken)
    const response = await post(
      server,
      '/auth/passkeys/register/verify',
      {
        challengeId: creation.challengeId,
        response: {
          id: 'AAAA',
          rawId: 'AAAA',
          type: 'public-key',
          response: { clientDataJSON: 'bm90IGpzb24', attestationObject: 'AAAA' },
          clientExtensionResults: {},
        },
      },
      user.accessToken,
    )
    expect(response.statusCode).toBe(400)
    expect(codeOf(response)).toBe('ATTESTATION_INVALID')
    const shape = await post(
      server,
      '/auth/passkeys/register/verify',
      { challengeId: creation.challengeId, response: { id: 'not base64url!' } },
      user.accessToken,
    )
    expect(codeOf(shape)).toBe('VALIDATION_FAILED')
  })
})
