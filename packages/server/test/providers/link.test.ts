import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, type TestServer } from '../helpers/server.js'
import { verifiedUser } from '../mfa/mfa-helpers.js'
import {
  APP_URL,
  appPkce,
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

/** Starts a link as the holder of `accessToken`, and goes through the provider as `login`. */
async function linkAtIdp(server: TestServer, accessToken: string, login: string) {
  const { codeVerifier, codeChallenge } = await appPkce()
  const jar = new CookieJar()
  const started = await server.app.inject({
    method: 'POST',
    url: '/auth/oauth/acme/link',
    headers: bearer(accessToken),
    payload: { redirectTo: APP_URL, codeChallenge },
  })
  if (started.statusCode !== 200) throw new Error(`link: ${started.statusCode} ${started.body}`)
  const setCookie = started.headers['set-cookie']
  jar.store(PUBLIC_URL, setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie])
  const callback = await signInAtIdp(jar, started.json().url, login)
  const answer = await visitTessera(server, jar, callback)
  return { location: String(answer.headers.location), codeVerifier }
}

const complete = (server: TestServer, accessToken: string, code: string, codeVerifier: string) =>
  server.app.inject({
    method: 'POST',
    url: '/auth/oauth/link/complete',
    headers: bearer(accessToken),
    payload: { code, codeVerifier },
  })

describe('linking a provider while signed in (a real oidc-provider on 127.0.0.1)', () => {
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

  it('links an identity with another, unverified email to the user who started, and it then signs in', async () => {
    const owner = await verifiedUser(server)
    idp.accounts.set('work-account', { email: 'someone-else@example.com', email_verified: false })
    const { location, codeVerifier } = await linkAtIdp(server, owner.accessToken, 'work-account')
    const code = /#code=([\w-]{43})$/.exec(location)?.[1] ?? ''
    expect(code, location).not.toBe('')

    const stranger = await verifiedUser(server)
    expect((await complete(server, stranger.accessToken, code, codeVerifier)).json()).toMatchObject({
      code: 'ONE_TIME_TOKEN_INVALID',
    })
    expect(
      (await complete(server, owner.accessToken, code, (await appPkce()).codeVerifier)).json(),
    ).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID' })
    const linked = await complete(server, owner.accessToken, code, codeVerifier)
    expect(linked.statusCode).toBe(200)
    expect(linked.json().identity).toMatchObject({ provider: 'acme', email: 'someone-else@example.com' })
    expect((await complete(server, owner.accessToken, code, codeVerifier)).json()).toMatchObject({
      code: 'ONE_TIME_TOKEN_INVALID',
    })

    const { jar } = await signInWithIdp(server, 'work-account')
    const refreshed = await server.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { cookie: `tessera_refresh=${jar.get(PUBLIC_URL, 'tessera_refresh')}`, origin: PUBLIC_URL },
      payload: {},
    })
    expect(refreshed.json().user.id).toBe(owner.userId)
  })

  it("refuses to link another account's identity", async () => {
    idp.accounts.set('taken', { email: 'taken@example.com', email_verified: true })
    await signInWithIdp(server, 'taken')
    const other = await verifiedUser(server)
    const { location } = await linkAtIdp(server, other.accessToken, 'taken')
    expect(location).toBe(`${APP_URL}#error=ACCOUNT_EXISTS`)
  })

  it('needs a recent sign-in to start', async () => {
    const owner = await verifiedUser(server)
    server.clock.advance(6 * 60)
    const started = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/acme/link',
      headers: bearer(owner.accessToken),
      payload: { redirectTo: APP_URL, codeChallenge: (await appPkce()).codeChallenge },
    })
    expect(started.json()).toMatchObject({ code: 'STEP_UP_REQUIRED' })
  })
})
