import { generateKeyPairSync } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestServer } from '../helpers/server.js'
import {
  APP_URL,
  CLIENT_ID,
  CLIENT_SECRET,
  CookieJar,
  type LocalIdp,
  PUBLIC_URL,
  providerEnv,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
  visitTessera,
} from './provider-helpers.js'

const refreshCookieOf = (jar: CookieJar) => jar.get(PUBLIC_URL, 'tessera_refresh')

async function userOf(server: TestServer, jar: CookieJar) {
  const refreshed = await server.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: { cookie: `tessera_refresh=${refreshCookieOf(jar)}`, origin: PUBLIC_URL },
    payload: {},
  })
  expect(refreshed.statusCode, refreshed.body).toBe(200)
  return refreshed.json().user as { email: string; emailVerified: boolean }
}

describe('a provider that answers by form_post (TESSERA_OAUTH_<ID>_RESPONSE_MODE=form_post)', () => {
  let idp: LocalIdp
  let server: TestServer

  beforeAll(async () => {
    idp = await startLocalIdp(['formy'])
    server = await startTestServer({
      ...providerEnv(idp, 'formy'),
      TESSERA_OAUTH_FORMY_RESPONSE_MODE: 'form_post',
    })
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
  })

  it('asks for form_post with a SameSite=None; Secure state cookie, and signs in at the POSTed callback', async () => {
    idp.accounts.set('fay', { email: 'fay@example.com', email_verified: true })
    const { start, form, answer, jar } = await signInWithIdp(server, 'fay', {}, new CookieJar(), 'formy')
    const authorization = new URL(String(start.headers.location))
    expect(authorization.searchParams.get('response_mode')).toBe('form_post')
    const stateCookie = String(start.headers['set-cookie'])
    expect(stateCookie).toMatch(/^tessera_oauth_state=/)
    expect(stateCookie).toMatch(/SameSite=None/i)
    expect(stateCookie).toMatch(/; Secure/i)
    // the provider's page posted the code and state: nothing came in the query
    expect(form?.get('code')).toBeTruthy()
    expect(answer.statusCode).toBe(302)
    expect(answer.headers.location).toBe(APP_URL)
    expect(await userOf(server, jar)).toMatchObject({ email: 'fay@example.com', emailVerified: true })
  })

  it('refuses a posted answer with another state, and a body that is not a form, without a 500', async () => {
    const jar = new CookieJar()
    await visitTessera(server, jar, `/auth/oauth/formy/start?${new URLSearchParams({ redirectTo: APP_URL })}`)
    const forged = await visitTessera(
      server,
      jar,
      '/auth/oauth/formy/callback',
      new URLSearchParams({ code: 'x', state: 'not-the-state' }),
    )
    expect(forged.statusCode).toBe(400)
    expect(forged.json()).toMatchObject({ code: 'OAUTH_STATE_INVALID' })
    const json = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/formy/callback',
      payload: { code: 'x', state: 'y' },
    })
    expect(json.statusCode).toBe(415)
    const tooLong = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/formy/callback',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ code: 'x'.repeat(5000), state: 'y' }).toString(),
    })
    expect(tooLong.statusCode).toBe(400)
    expect(tooLong.json()).toMatchObject({ code: 'VALIDATION_FAILED' })
  })
})

describe('the apple preset (against the local oidc-provider standing in for appleid.apple.com)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const secrets: string[] = []
  let idp: LocalIdp
  let server: TestServer

  beforeAll(async () => {
    idp = await startLocalIdp(['apple'], {
      tokenAuthMethod: 'client_secret_post',
      // Apple checks the signed secret itself; the local provider knows only a plain one
      onTokenRequest(form) {
        secrets.push(form.get('client_secret') ?? '')
        form.set('client_secret', CLIENT_SECRET)
        return form
      },
    })
    server = await startTestServer({
      TESSERA_PUBLIC_URL: PUBLIC_URL,
      TESSERA_OAUTH_PROVIDERS: 'apple',
      TESSERA_OAUTH_APPLE_ISSUER: idp.issuer,
      TESSERA_OAUTH_APPLE_CLIENT_ID: CLIENT_ID,
      TESSERA_OAUTH_APPLE_TEAM_ID: 'TEAM123456',
      TESSERA_OAUTH_APPLE_KEY_ID: 'KEY1234567',
      TESSERA_OAUTH_APPLE_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      TESSERA_OAUTH_REDIRECTS: 'http://localhost:5173/',
    })
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
  })

  it('signs in through the POSTed callback with an ES256 client secret Tessera signed, and takes "true" as verified', async () => {
    // Apple documents email_verified as a boolean or a string
    idp.accounts.set('amy', { email: 'amy@example.com', email_verified: 'true' as unknown as boolean })
    const { start, form, answer, jar } = await signInWithIdp(server, 'amy', {}, new CookieJar(), 'apple')
    const authorization = new URL(String(start.headers.location))
    expect(authorization.searchParams.get('response_mode')).toBe('form_post')
    expect(authorization.searchParams.get('scope')).toBe('openid email name')
    expect(String(start.headers['set-cookie'])).toMatch(/SameSite=None; Secure|Secure; SameSite=None/i)
    expect(form).toBeDefined()
    expect(answer.headers.location).toBe(APP_URL)
    expect(await userOf(server, jar)).toMatchObject({ email: 'amy@example.com', emailVerified: true })

    expect(secrets).toHaveLength(1)
    const secret = secrets[0] ?? ''
    expect(decodeProtectedHeader(secret)).toEqual({ alg: 'ES256', kid: 'KEY1234567' })
    const now = Math.floor(server.clock.now().getTime() / 1000)
    const { payload } = await jwtVerify(secret, publicKey, {
      algorithms: ['ES256'],
      issuer: 'TEAM123456',
      subject: CLIENT_ID,
      audience: 'https://appleid.apple.com',
      currentDate: server.clock.now(),
    })
    expect(payload.iat).toBe(now)
    expect(payload.exp).toBe(now + 24 * 3600)
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(15_777_000)
  })

  it('keeps the signed secret while it has over an hour left, then signs a new one', async () => {
    idp.accounts.set('ann', { email: 'ann@example.com', email_verified: true })
    const first = secrets.at(-1) ?? ''
    server.clock.advance(22 * 3600)
    await signInWithIdp(server, 'ann', {}, new CookieJar(), 'apple')
    expect(secrets.at(-1)).toBe(first)
    server.clock.advance(3600 + 1)
    await signInWithIdp(server, 'ann', {}, new CookieJar(), 'apple')
    const renewed = secrets.at(-1) ?? ''
    expect(renewed).not.toBe(first)
    const { payload } = await jwtVerify(renewed, publicKey, { currentDate: server.clock.now() })
    expect(payload.iat).toBe(Math.floor(server.clock.now().getTime() / 1000))
  })
})
