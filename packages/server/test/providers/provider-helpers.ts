import { createServer, type IncomingMessage, type Server } from 'node:http'
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
  /** How often `/.well-known/openid-configuration` was asked for. */
  discoveryRequests(): number
  /** While true, discovery answers 503 (the rest of the provider keeps working). */
  failDiscovery: boolean
  /** While set, the provider publishes these keys instead of its own (its ID tokens then fail to verify). */
  publishedKeys: { keys: object[] } | undefined
  close(): Promise<void>
}

export interface LocalIdpOptions {
  clientId?: string
  /** How the client authenticates at the token endpoint; default `client_secret_basic`. */
  tokenAuthMethod?: 'client_secret_basic' | 'client_secret_post'
  /**
   * Sees (and may rewrite) each token request's form before the provider reads it: Apple's signed
   * client secret is checked here and swapped for the secret the provider knows.
   */
  onTokenRequest?: (form: URLSearchParams) => URLSearchParams
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
  /** The options, or (as before them) the client id alone. */
  options: LocalIdpOptions | string = {},
): Promise<LocalIdp> {
  const {
    clientId = CLIENT_ID,
    tokenAuthMethod = 'client_secret_basic',
    onTokenRequest,
  } = typeof options === 'string' ? { clientId: options } : options
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
        token_endpoint_auth_method: tokenAuthMethod,
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
  const handle = provider.callback()
  let discoveries = 0
  const idp: LocalIdp = {
    issuer,
    accounts,
    discoveryRequests: () => discoveries,
    failDiscovery: false,
    publishedKeys: undefined,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  server.on('request', async (request: IncomingMessage & { body?: unknown }, response) => {
    if (request.url?.startsWith('/.well-known/openid-configuration')) {
      discoveries += 1
      if (idp.failDiscovery) {
        response.writeHead(503).end()
        return
      }
    }
    if (idp.publishedKeys && request.url === '/jwks') {
      response
        .writeHead(200, { 'content-type': 'application/jwk-set+json' })
        .end(JSON.stringify(idp.publishedKeys))
      return
    }
    if (onTokenRequest && request.method === 'POST' && request.url === '/token') {
      // read here, handed on parsed: oidc-provider takes an already parsed body as it is
      const chunks: Buffer[] = []
      for await (const chunk of request) chunks.push(chunk as Buffer)
      request.body = Object.fromEntries(onTokenRequest(new URLSearchParams(Buffer.concat(chunks).toString())))
    }
    handle(request, response)
  })
  return idp
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

/** Where the provider sends the browser back: a redirect (GET), or a form it posts (form_post). */
export interface IdpAnswer {
  url: URL
  /** form_post: the fields the provider's page posts to `url`. */
  form?: URLSearchParams
}

const unescapeHtml = (text: string): string =>
  text
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')

/**
 * The browser: follows the provider's redirects, submits its login (as `login`) and consent forms,
 * and stops at the first redirect back to Tessera's callback, which it returns.
 */
export async function signInAtIdp(jar: CookieJar, authorizationUrl: string, login: string): Promise<URL> {
  const answer = await answerOfIdp(jar, authorizationUrl, login)
  if (answer.form) throw new Error('the provider answered with a form_post form')
  return answer.url
}

/** As {@link signInAtIdp}, but a form_post answer is returned as its form, which the browser would post. */
export async function answerOfIdp(
  jar: CookieJar,
  authorizationUrl: string,
  login: string,
): Promise<IdpAnswer> {
  let url = new URL(authorizationUrl)
  let form: URLSearchParams | undefined
  for (let step = 0; step < 20; step += 1) {
    if (url.origin === PUBLIC_URL) return form ? { url, form } : { url }
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
    const hidden = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)]
    if (hidden.length > 0 && new URL(unescapeHtml(action)).origin === PUBLIC_URL) {
      // form_post: the page posts these fields to Tessera's callback
      form = new URLSearchParams(
        hidden.map(([, name = '', value = '']): [string, string] => [name, unescapeHtml(value)]),
      )
      url = new URL(unescapeHtml(action))
      continue
    }
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1] ?? 'login'
    form = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt })
    url = new URL(action, url)
  }
  throw new Error('the provider never sent the browser back')
}

/** Tessera's answer to the browser, through `inject`, with the jar's cookies for Tessera. */
export async function visitTessera(
  server: TestServer,
  jar: CookieJar,
  url: URL | string,
  form?: URLSearchParams,
) {
  const target = new URL(url, PUBLIC_URL)
  const response = await server.app.inject({
    method: form ? 'POST' : 'GET',
    url: `${target.pathname}${target.search}`,
    headers: {
      cookie: jar.header(PUBLIC_URL),
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(form ? { payload: form.toString() } : {}),
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
  providerId = 'acme',
) {
  const start = await visitTessera(
    server,
    jar,
    `/auth/oauth/${providerId}/start?${new URLSearchParams({ redirectTo: APP_URL, ...query })}`,
  )
  if (start.statusCode !== 302) throw new Error(`start answered ${start.statusCode}: ${start.body}`)
  const { url: callback, form } = await answerOfIdp(jar, String(start.headers.location), login)
  const answer = await visitTessera(server, jar, callback, form)
  return { answer, jar, callback, start, form, location: String(answer.headers.location ?? '') }
}

export { startTestServer }
