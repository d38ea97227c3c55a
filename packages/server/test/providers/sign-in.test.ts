import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestServer } from '../helpers/server.js'
import {
  APP_URL,
  appPkce,
  type LocalIdp,
  providerEnv,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
} from './provider-helpers.js'

describe('sign in with an OpenID provider (a real oidc-provider on 127.0.0.1)', () => {
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

  it('lists the provider', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/auth/oauth/providers' })
    expect(response.json()).toEqual({ providers: [{ id: 'acme', name: 'acme' }] })
  })

  it('signs a new user in, in cookie mode: the refresh cookie is set and the browser returns to the app', async () => {
    idp.accounts.set('ada', { email: 'ada@example.com', email_verified: true, name: 'Ada' })
    const { answer, jar } = await signInWithIdp(server, 'ada')
    expect(answer.statusCode).toBe(302)
    expect(answer.headers.location).toBe(APP_URL)
    expect(jar.get('http://localhost:3000', 'tessera_refresh')).toBeDefined()
    const refreshed = await server.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: {
        cookie: `tessera_refresh=${jar.get('http://localhost:3000', 'tessera_refresh')}`,
        origin: 'http://localhost:3000',
      },
      payload: {},
    })
    expect(refreshed.statusCode).toBe(200)
    expect(refreshed.json().user).toMatchObject({ email: 'ada@example.com', emailVerified: true })
  })

  it('returns a one-time code in code mode, exchanged once with the app verifier', async () => {
    idp.accounts.set('bob', { email: 'bob@example.com', email_verified: true })
    const { codeVerifier, codeChallenge } = await appPkce()
    const { location } = await signInWithIdp(server, 'bob', { mode: 'code', codeChallenge })
    const match = /^http:\/\/localhost:5173\/signed-in#code=([\w-]{43})$/.exec(location)
    expect(match, location).not.toBeNull()
    const code = match?.[1] ?? ''
    const wrong = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/exchange',
      payload: { code, codeVerifier: (await appPkce()).codeVerifier, tokenDelivery: 'body' },
    })
    expect(wrong.json()).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID' })
    const exchanged = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/exchange',
      payload: { code, codeVerifier, tokenDelivery: 'body' },
    })
    expect(exchanged.statusCode).toBe(200)
    expect(exchanged.json()).toMatchObject({ user: { email: 'bob@example.com' }, tokenType: 'Bearer' })
    const again = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/exchange',
      payload: { code, codeVerifier, tokenDelivery: 'body' },
    })
    expect(again.json()).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID' })
  })
})
