import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import * as oidc from 'openid-client'
import { startTestServer, type TestServer } from '../helpers/server.js'

/** An account at the local identity provider: what its ID tokens say. */
export interface IdpAccount {
  email?: string
  email_verified?: boolean
  name?: string
}

export interface LocalIdp {
  issuer: string
  /** The accounts by login name (devInteractions accepts any login; its name is the `sub`). */
  accounts: Map<string, IdpAccount>
  close(): Promise<void>
}

export const PUBLIC_URL = 'http://localhost:3000'
export const APP_URL = 'http://localhost:5173/signed-in'
export const CLIENT_ID = 'tessera'
export const CLIENT_SECRET = 'a-client-secret-for-tessera-0123456789'

/**
 * A real OpenID provider (panva's oidc-provider 9) on 127.0.0.1 with its development login and
 * consent pages, and Tessera registered as the client `tessera` for `providerIds`' callbacks.
 */
export async function startLocalIdp(
  providerIds: readonly string[] = ['acme'],
  clientId = CLIENT_ID,
): Promise<LocalIdp> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const accounts = new Map<string, IdpAccount>()
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: CLIENT_SECRET,
        redirect_uris: providerIds.map((id) => `${PUBLIC_URL}/auth/oauth/${id}/callback`),
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // the claims in the ID token itself, as Google's are, rather than only at userinfo
    conformIdTokenClaims: false,
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => ({ sub, ...(accounts.get(sub) ?? {}) }),
    }),
    cookies: { keys: ['local-idp-cookie-key-0123456789'] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    features: { devInteractions: { enabled: true } },
  })
  server.on('request', provider.callback())
  return {
    issuer,
    accounts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** The environment of a Tessera that signs in with the local provider under `id`. */
export const providerEnv = (idp: LocalIdp, id = 'acme'): Record<string, string> => ({
  TESSERA_PUBLIC_URL: PUBLIC_URL,
  TESSERA_OAUTH_PROVIDERS: id,
  [`TESSERA_OAUTH_${id.toUpperCase()}_ISSUER`]: idp.issuer,
  [`TESSERA_OAUTH_${id.toUpperCase()}_CLIENT_ID`]: CLIENT_ID,
  [`TESSERA_OAUTH_${id.toUpperCase()}_CLIENT_SECRET`]: CLIENT_SECRET,
  TESSERA_OAUTH_REDIRECTS: 'http://localhost:5173/',
})

/** A cookie jar per origin, enough for the provider's pages and Tessera's few cookies. */
export class CookieJar {
  private readonly cookies = new Map<string, Map<string, string>>()

  store(origin: string, setCookies: readonly string[]): void {
    const jar = this.cookies.get(origin) ?? new Map<string, string>()
    for (const line of setCookies) {
      const [pair = ''] = line.split(';')
      const at = pair.indexOf('=')
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') jar.delete(name)
      else jar.set(name, value)
    }
    this.cookies.set(origin, jar)
  }

  get(origin: string, name: string): string | undefined {
    return this.cookies.get(origin)?.get(name)
  }

  header(origin: string): string {
    return [...(this.cookies.get(origin) ?? new Map<string, string>())]
      .map(([name, value]) => `${name}=${value}`)
      .join('; ')
  }
}

const setCookiesOf = (header: string | string[] | undefined): string[] =>
  header === undefined ? [] : Array.isArray(header) ? header : [header]

/**
 * The browser: follows the provider's redirects, submits its login (as `login`) and consent forms,
 * and stops at the first redirect back to Tessera's callback, which it returns.
 */
export async function signInAtIdp(jar: CookieJar, authorizationUrl: string, login: string): Promise<URL> {
  let url = new URL(authorizationUrl)
  let form: URLSearchParams | undefined
  for (let step = 0; step < 20; step += 1) {
    if (url.origin === PUBLIC_URL) return url
    const response = await fetch(url, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: jar.header(url.origin),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { body: form.toString() } : {}),
    })
    jar.store(url.origin, response.headers.getSetCookie())
    form = undefined
    const location = response.headers.get('location')
    if (location) {
      url = new URL(location, url)
      continue
    }
    const html = await response.text()
    const action = /action="([^"]+)"/.exec(html)?.[1]
    if (!action)
      throw new Error(`the provider answered ${response.status} without a form: ${html.slice(0, 300)}`)
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1] ?? 'login'
    form = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt })
    url = new URL(action, url)
  }
  throw new Error('the provider never sent the browser back')
}

/** Tessera's answer to the browser, through `inject`, with the jar's cookies for Tessera. */
export async function visitTessera(server: TestServer, jar: CookieJar, url: URL | string) {
  const target = new URL(url, PUBLIC_URL)
  const response = await server.app.inject({
    method: 'GET',
    url: `${target.pathname}${target.search}`,
    headers: { cookie: jar.header(PUBLIC_URL) },
  })
  jar.store(PUBLIC_URL, setCookiesOf(response.headers['set-cookie']))
  return response
}

/** The app's own PKCE pair for code mode. */
export async function appPkce(): Promise<{ codeVerifier: string; codeChallenge: string }> {
  const codeVerifier = oidc.randomPKCECodeVerifier()
  return { codeVerifier, codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier) }
}

/** Start, the provider's pages as `login`, and the callback: Tessera's last answer and the jar. */
export async function signInWithIdp(
  server: TestServer,
  login: string,
  query: Record<string, string> = {},
  jar = new CookieJar(),
) {
  const start = await visitTessera(
    server,
    jar,
    `/auth/oauth/acme/start?${new URLSearchParams({ redirectTo: APP_URL, ...query })}`,
  )
  if (start.statusCode !== 302) throw new Error(`start answered ${start.statusCode}: ${start.body}`)
  const callback = await signInAtIdp(jar, String(start.headers.location), login)
  const answer = await visitTessera(server, jar, callback)
  return { answer, jar, callback, location: String(answer.headers.location ?? '') }
}

export { startTestServer }
