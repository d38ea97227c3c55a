import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, type TestServer } from '../helpers/server.js'
import { login, verifiedUser } from '../mfa/mfa-helpers.js'
import {
  appPkce,
  type LocalIdp,
  providerEnv,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
} from './provider-helpers.js'

/** Signs `login` in at the provider in code mode and exchanges the code: the access token. */
async function providerSignIn(server: TestServer, loginName: string): Promise<string> {
  const { codeVerifier, codeChallenge } = await appPkce()
  const { location } = await signInWithIdp(server, loginName, { mode: 'code', codeChallenge })
  const code = new URLSearchParams(new URL(location).hash.slice(1)).get('code') ?? ''
  const exchanged = await server.app.inject({
    method: 'POST',
    url: '/auth/oauth/exchange',
    payload: { code, codeVerifier, tokenDelivery: 'body' },
  })
  return exchanged.json().accessToken
}

const identitiesOf = async (server: TestServer, accessToken: string) =>
  (await server.app.inject({ method: 'GET', url: '/auth/identities', headers: bearer(accessToken) })).json()
    .identities as { id: string; provider: string; email: string | null }[]

const unlink = (server: TestServer, accessToken: string, id: string) =>
  server.app.inject({ method: 'DELETE', url: `/auth/identities/${id}`, headers: bearer(accessToken) })

describe('provider identities of the signed-in user (a real oidc-provider on 127.0.0.1)', () => {
  let idp: LocalIdp
  let server: TestServer

  beforeAll(async () => {
    idp = await startLocalIdp()
    server = await startTestServer(providerEnv(idp))
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
  })

  it('lists the identity and refuses to unlink the last way to sign in', async () => {
    idp.accounts.set('only-provider', { email: 'only@example.com', email_verified: true })
    const accessToken = await providerSignIn(server, 'only-provider')
    const identities = await identitiesOf(server, accessToken)
    expect(identities).toEqual([
      { id: expect.any(String), provider: 'acme', email: 'only@example.com', linkedAt: expect.any(String) },
    ])
    const refused = await unlink(server, accessToken, identities[0]?.id ?? '')
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({ code: 'LAST_SIGN_IN_METHOD' })
    expect(await identitiesOf(server, accessToken)).toHaveLength(1)
  })

  it('unlinks an identity of an account with a password; another user cannot', async () => {
    const owner = await verifiedUser(server)
    idp.accounts.set('with-password', { email: owner.email, email_verified: true })
    const accessToken = await providerSignIn(server, 'with-password')
    const [identity] = await identitiesOf(server, accessToken)
    const stranger = await verifiedUser(server)
    expect((await unlink(server, stranger.accessToken, identity?.id ?? '')).statusCode).toBe(404)
    expect((await unlink(server, accessToken, identity?.id ?? '')).statusCode).toBe(204)
    expect(await identitiesOf(server, accessToken)).toEqual([])
    // the password still signs in
    expect((await login(server, owner)).statusCode).toBe(200)
  })

  it('needs a recent sign-in to unlink', async () => {
    const owner = await verifiedUser(server)
    idp.accounts.set('stale', { email: owner.email, email_verified: true })
    const accessToken = await providerSignIn(server, 'stale')
    const [identity] = await identitiesOf(server, accessToken)
    // past the 5 minutes, within the access token's life
    server.clock.advance(6 * 60)
    const refused = await unlink(server, accessToken, identity?.id ?? '')
    expect(refused.json()).toMatchObject({ code: 'STEP_UP_REQUIRED' })
  })
})
