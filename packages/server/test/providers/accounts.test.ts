import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerUser, type TestServer } from '../helpers/server.js'
import { enrolledUser, verifiedUser } from '../mfa/mfa-helpers.js'
import {
  APP_URL,
  appPkce,
  type LocalIdp,
  PUBLIC_URL,
  providerEnv,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
} from './provider-helpers.js'

/** The tokens a cookie-mode sign-in left in the jar, by refreshing with its cookie. */
async function refreshWith(server: TestServer, refreshToken: string | undefined) {
  return server.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: { cookie: `tessera_refresh=${refreshToken}`, origin: PUBLIC_URL },
    payload: {},
  })
}

describe('the account a provider identity signs in to (a real oidc-provider on 127.0.0.1)', () => {
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

  it('creates an account without a password, verified as the provider says, and signs in with amr fed', async () => {
    idp.accounts.set('new-unverified', { email: 'fresh@example.com', email_verified: false })
    const { codeVerifier, codeChallenge } = await appPkce()
    const { location } = await signInWithIdp(server, 'new-unverified', { mode: 'code', codeChallenge })
    const code = new URLSearchParams(new URL(location).hash.slice(1)).get('code') ?? ''
    const exchanged = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/exchange',
      payload: { code, codeVerifier, tokenDelivery: 'body' },
    })
    expect(exchanged.json().user).toMatchObject({ email: 'fresh@example.com', emailVerified: false })
    const claims = decodeJwt(exchanged.json().accessToken)
    expect(claims.amr).toEqual(['fed'])
    expect(claims.acr).toBe('urn:tessera:pwd')
    const user = await server.deps.stores.users.findByEmail('fresh@example.com')
    expect(user?.passwordHash).toBeNull()
    expect(await server.deps.stores.identities.listForUser(user?.id ?? '')).toEqual([
      expect.objectContaining({ provider: 'acme', issuer: idp.issuer, subject: 'new-unverified' }),
    ])
  })

  it('refuses with ACCOUNT_EXISTS an unverified provider email that belongs to an account', async () => {
    const owner = await verifiedUser(server)
    idp.accounts.set('squatter', { email: owner.email, email_verified: false })
    const { location, jar } = await signInWithIdp(server, 'squatter')
    expect(location).toBe(`${APP_URL}#error=ACCOUNT_EXISTS`)
    expect(jar.get(PUBLIC_URL, 'tessera_refresh')).toBeUndefined()
    expect(await server.deps.stores.identities.listForUser(owner.userId)).toEqual([])
  })

  it('refuses with ACCOUNT_EXISTS a verified provider email whose account never verified it (pre-hijacking)', async () => {
    const squatter = await registerUser(server.app)
    idp.accounts.set('victim', { email: squatter.email, email_verified: true })
    const { location } = await signInWithIdp(server, 'victim')
    expect(location).toBe(`${APP_URL}#error=ACCOUNT_EXISTS`)
    expect(await server.deps.stores.identities.listForUser(squatter.userId)).toEqual([])
  })

  it('links a verified provider email to the account that verified it, and signs in to it again', async () => {
    const owner = await verifiedUser(server)
    idp.accounts.set('owner', { email: owner.email.toUpperCase(), email_verified: true })
    for (let round = 0; round < 2; round += 1) {
      const { location, jar } = await signInWithIdp(server, 'owner')
      expect(location).toBe(APP_URL)
      const refreshed = await refreshWith(server, jar.get(PUBLIC_URL, 'tessera_refresh'))
      expect(refreshed.json().user.id).toBe(owner.userId)
    }
    expect(await server.deps.stores.identities.listForUser(owner.userId)).toHaveLength(1)
  })

  it('asks a user with TOTP for the second factor at the exchange, even in cookie mode', async () => {
    const owner = await enrolledUser(server)
    idp.accounts.set('with-totp', { email: owner.email, email_verified: true })
    const { location, jar } = await signInWithIdp(server, 'with-totp')
    expect(jar.get(PUBLIC_URL, 'tessera_refresh')).toBeUndefined()
    const code = /#code=([\w-]{43})$/.exec(location)?.[1]
    expect(code, location).toBeDefined()
    // cookie mode: the verifier Tessera made is in an HttpOnly cookie for the exchange
    const verifier = jar.get(PUBLIC_URL, 'tessera_oauth_verifier')
    expect(verifier).toBeDefined()
    const exchanged = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/exchange',
      headers: { cookie: `tessera_oauth_verifier=${verifier}` },
      payload: { code },
    })
    expect(exchanged.statusCode).toBe(200)
    expect(exchanged.json()).toMatchObject({ status: 'mfa_required', methods: ['totp', 'recovery_code'] })
    expect(exchanged.json().accessToken).toBeUndefined()
  })

  it('refuses a code after its 60 seconds', async () => {
    idp.accounts.set('slow', { email: 'slow@example.com', email_verified: true })
    const { codeVerifier, codeChallenge } = await appPkce()
    const { location } = await signInWithIdp(server, 'slow', { mode: 'code', codeChallenge })
    const code = new URLSearchParams(new URL(location).hash.slice(1)).get('code') ?? ''
    server.clock.advance(61)
    const exchanged = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/exchange',
      payload: { code, codeVerifier, tokenDelivery: 'body' },
    })
    expect(exchanged.json()).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID' })
  })
})
