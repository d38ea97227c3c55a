import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { codeOf, mfaTokenFor, post, verifiedUser } from '../mfa/mfa-helpers.js'
import { addPasskey } from './passkey-helpers.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({
    TESSERA_RATE_LIMIT: 'on',
    TESSERA_LIMIT_PASSKEY: '3/1m',
    TESSERA_LIMIT_PASSWORD_CHANGE: '4/15m',
  })
})
afterAll(() => server.close())

describe('rate limits on the passkey routes', () => {
  it('counts passkey starts per client address (TESSERA_LIMIT_PASSKEY), with RateLimit headers', async () => {
    const user = await verifiedUser(server)
    await addPasskey(server, user)
    const mfaToken = await mfaTokenFor(server, user)
    const login = await post(server, '/auth/passkeys/login/options', {})
    expect(login.statusCode).toBe(200)
    expect(login.headers['ratelimit-limit']).toBe('3')
    expect((await post(server, '/auth/mfa/passkey/options', { mfaToken })).statusCode).toBe(200)
    expect((await post(server, '/auth/passkeys/login/options', {})).statusCode).toBe(200)
    const refused = await post(server, '/auth/passkeys/login/options', {})
    expect(refused.statusCode).toBe(429)
    expect(codeOf(refused)).toBe('RATE_LIMITED')
    expect(refused.headers['retry-after']).toBeDefined()
    expect(codeOf(await post(server, '/auth/mfa/passkey/options', { mfaToken }))).toBe('RATE_LIMITED')
  })

  it('counts registrations per user, as the other second-factor routes', async () => {
    const user = await verifiedUser(server)
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect((await post(server, '/auth/passkeys/register/options', {}, user.accessToken)).statusCode).toBe(
        200,
      )
    }
    expect(codeOf(await post(server, '/auth/passkeys/register/options', {}, user.accessToken))).toBe(
      'RATE_LIMITED',
    )
  })
})
