import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestServer } from '../helpers/server.js'
import {
  APP_URL,
  CookieJar,
  type LocalIdp,
  PUBLIC_URL,
  providerEnv,
  signInAtIdp,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
  visitTessera,
} from './provider-helpers.js'

const startUrl = (query: Record<string, string> = {}) =>
  `/auth/oauth/acme/start?${new URLSearchParams({ redirectTo: APP_URL, ...query })}`

describe('provider sign-ins that are refused (a real oidc-provider on 127.0.0.1)', () => {
  let idp: LocalIdp
  let otherIdp: LocalIdp
  let server: TestServer

  beforeAll(async () => {
    idp = await startLocalIdp()
    otherIdp = await startLocalIdp()
    server = await startTestServer(providerEnv(idp))
    for (const provider of [idp, otherIdp]) {
      provider.accounts.set('eve', { email: 'eve@example.com', email_verified: true })
    }
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
    await otherIdp?.close()
  })

  it('refuses a redirectTo off the allow-list with 400 before anything is sent to the provider', async () => {
    for (const redirectTo of [
      'https://evil.example/',
      'http://localhost:5173@evil.example/',
      'http://localhost:5173/a%2F..%2F',
      'http://localhost:5174/',
    ]) {
      const response = await server.app.inject({ method: 'GET', url: startUrl({ redirectTo }) })
      expect(response.statusCode, redirectTo).toBe(400)
      expect(response.json()).toMatchObject({ code: 'REDIRECT_NOT_ALLOWED' })
      expect(response.headers.location).toBeUndefined()
      expect(response.headers['set-cookie']).toBeUndefined()
    }
  })

  it('asks for the app challenge in code mode', async () => {
    const response = await server.app.inject({ method: 'GET', url: startUrl({ mode: 'code' }) })
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED' })
  })

  it('answers problem+json, with nowhere to return to, when the state cookie is missing', async () => {
    const jar = new CookieJar()
    const start = await visitTessera(server, jar, startUrl())
    const callback = await signInAtIdp(jar, String(start.headers.location), 'eve')
    const answer = await server.app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}` })
    expect(answer.statusCode).toBe(400)
    expect(answer.headers['content-type']).toContain('application/problem+json')
    expect(answer.json()).toMatchObject({ code: 'OAUTH_STATE_INVALID' })
    expect(answer.headers.location).toBeUndefined()
  })

  it('refuses a state that is not the one sealed in this browser (another start, or a forged one)', async () => {
    const jar = new CookieJar()
    const first = await visitTessera(server, jar, startUrl())
    // a second start in the same browser replaces the first one's state
    await visitTessera(server, jar, startUrl())
    const callback = await signInAtIdp(jar, String(first.headers.location), 'eve')
    const answer = await visitTessera(server, jar, callback)
    expect(answer.statusCode).toBe(400)
    expect(answer.json()).toMatchObject({ code: 'OAUTH_STATE_INVALID' })

    const forged = new CookieJar()
    const start = await visitTessera(server, forged, startUrl())
    const back = await signInAtIdp(forged, String(start.headers.location), 'eve')
    back.searchParams.set('state', 'a-state-of-the-attacker')
    expect((await visitTessera(server, forged, back)).json()).toMatchObject({ code: 'OAUTH_STATE_INVALID' })
  })

  it('refuses a state cookie that was altered', async () => {
    const jar = new CookieJar()
    const start = await visitTessera(server, jar, startUrl())
    const callback = await signInAtIdp(jar, String(start.headers.location), 'eve')
    const sealed = jar.get(PUBLIC_URL, 'tessera_oauth_state') ?? ''
    const altered = `${sealed.slice(0, -2)}${sealed.endsWith('AA') ? 'BB' : 'AA'}`
    const answer = await server.app.inject({
      method: 'GET',
      url: `${callback.pathname}${callback.search}`,
      headers: { cookie: `tessera_oauth_state=${altered}` },
    })
    expect(answer.json()).toMatchObject({ code: 'OAUTH_STATE_INVALID' })
  })

  it('refuses a replayed callback: the state cookie is gone, and the provider will not redeem its code twice', async () => {
    const jar = new CookieJar()
    const start = await visitTessera(server, jar, startUrl())
    const callback = await signInAtIdp(jar, String(start.headers.location), 'eve')
    const sealed = jar.get(PUBLIC_URL, 'tessera_oauth_state') ?? ''
    const first = await visitTessera(server, jar, callback)
    expect(first.headers.location).toBe(APP_URL)
    expect(jar.get(PUBLIC_URL, 'tessera_oauth_state')).toBeUndefined()
    expect((await visitTessera(server, jar, callback)).json()).toMatchObject({ code: 'OAUTH_STATE_INVALID' })
    // an attacker who kept the cookie too
    const replay = await server.app.inject({
      method: 'GET',
      url: `${callback.pathname}${callback.search}`,
      headers: { cookie: `tessera_oauth_state=${sealed}` },
    })
    expect(replay.statusCode).toBe(302)
    expect(replay.headers.location).toBe(`${APP_URL}#error=PROVIDER_SIGN_IN_FAILED`)
    expect(replay.headers['set-cookie']).not.toContain('tessera_refresh=')
  })

  it('refuses an ID token whose nonce is not the one of this sign-in', async () => {
    const jar = new CookieJar()
    const start = await visitTessera(server, jar, startUrl())
    // the authorization request as an attacker would have it answered: another nonce
    const tampered = new URL(String(start.headers.location))
    tampered.searchParams.set('nonce', 'a-nonce-of-the-attacker')
    const callback = await signInAtIdp(jar, tampered.href, 'eve')
    const answer = await visitTessera(server, jar, callback)
    expect(answer.headers.location).toBe(`${APP_URL}#error=PROVIDER_SIGN_IN_FAILED`)
    expect(jar.get(PUBLIC_URL, 'tessera_refresh')).toBeUndefined()
  })

  it('refuses an answer from another issuer with the same client registration', async () => {
    const jar = new CookieJar()
    const start = await visitTessera(server, jar, startUrl())
    const elsewhere = new URL(String(start.headers.location))
    const other = new URL(`${elsewhere.pathname}${elsewhere.search}`, otherIdp.issuer)
    const callback = await signInAtIdp(jar, other.href, 'eve')
    expect(callback.searchParams.get('iss')).toBe(otherIdp.issuer)
    const answer = await visitTessera(server, jar, callback)
    expect(answer.headers.location).toBe(`${APP_URL}#error=PROVIDER_SIGN_IN_FAILED`)
  })

  it('returns to the app with the error when the user cancels at the provider', async () => {
    const jar = new CookieJar()
    const start = await visitTessera(server, jar, startUrl())
    const sealed = jar.get(PUBLIC_URL, 'tessera_oauth_state') ?? ''
    const state = new URL(String(start.headers.location)).searchParams.get('state') ?? ''
    const answer = await server.app.inject({
      method: 'GET',
      url: `/auth/oauth/acme/callback?${new URLSearchParams({ error: 'access_denied', state })}`,
      headers: { cookie: `tessera_oauth_state=${sealed}` },
    })
    expect(answer.headers.location).toBe(`${APP_URL}#error=PROVIDER_SIGN_IN_FAILED`)
  })

  it('answers 404 for a provider that is not configured', async () => {
    const response = await signInWithIdp(server, 'eve').then(() =>
      server.app.inject({ method: 'GET', url: '/auth/oauth/nobody/start?redirectTo=http://localhost:5173/' }),
    )
    expect(response.statusCode).toBe(404)
  })
})
