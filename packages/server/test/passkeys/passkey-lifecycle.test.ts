import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { noEvents } from '../../src/events.js'
import { resetMfa } from '../../src/flows/mfa/reset-mfa.js'
import { json, startTestServer, type TestServer } from '../helpers/server.js'
import { codeOf, login, verifiedUser } from '../mfa/mfa-helpers.js'
import { addPasskey, loginOptions, passkeyLogin } from './passkey-helpers.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_HOUSEKEEPING: 'on' })
})
afterAll(() => server.close())

describe('passkeys over time', () => {
  it('housekeeping deletes WebAuthn challenges once expired, used or not', async () => {
    const housekeeping = server.housekeeping
    if (!housekeeping) throw new Error('housekeeping is off')
    await housekeeping.runOnce()
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    await loginOptions(server)
    expect((await passkeyLogin(server, authenticator)).statusCode).toBe(200)
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { webauthnChallenges: 0 } })
    server.clock.advance(301)
    // the registration's, the unused login's and the used login's
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { webauthnChallenges: 3 } })
  })

  it("an operator's reset removes the passkeys: the password alone signs in again", async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    expect(json(await login(server, user)).status).toBe('mfa_required')
    const reset = await resetMfa({ stores: server.deps.stores, events: noEvents }, user.email)
    expect(reset).toMatchObject({ totp: false, recoveryCodes: 0, passkeys: 1 })
    expect(json(await login(server, user)).accessToken).toEqual(expect.any(String))
    expect(codeOf(await passkeyLogin(server, authenticator))).toBe('PASSKEY_INVALID')
  })

  it('a deleted user takes their passkeys along', async () => {
    const user = await verifiedUser(server)
    const { authenticator } = await addPasskey(server, user)
    await server.deps.stores.users.delete(user.userId, server.clock.now())
    expect(await server.deps.stores.passkeys.findByCredentialId(authenticator.credentialId)).toBeUndefined()
  })
})
