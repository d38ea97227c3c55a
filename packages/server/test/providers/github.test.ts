import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerUser, type TestServer } from '../helpers/server.js'
import { METRICS_TOKEN, sampleValue, scrape } from '../observability/scrape.js'
import {
  GITHUB_CLIENT_ID,
  GITHUB_CLIENT_SECRET,
  type GitHubStandIn,
  startGitHubStandIn,
} from './github-stand-in.js'
import { APP_URL, CookieJar, PUBLIC_URL, startTestServer, visitTessera } from './provider-helpers.js'

const githubEnv = (baseUrl: string, apiUrl = baseUrl): Record<string, string> => ({
  TESSERA_PUBLIC_URL: PUBLIC_URL,
  TESSERA_OAUTH_PROVIDERS: 'github',
  TESSERA_OAUTH_GITHUB_CLIENT_ID: GITHUB_CLIENT_ID,
  TESSERA_OAUTH_GITHUB_CLIENT_SECRET: GITHUB_CLIENT_SECRET,
  TESSERA_OAUTH_GITHUB_BASE_URL: baseUrl,
  TESSERA_OAUTH_GITHUB_API_URL: apiUrl,
  TESSERA_OAUTH_REDIRECTS: 'http://localhost:5173/',
  TESSERA_METRICS_TOKEN: METRICS_TOKEN,
})

/** Start at Tessera, "consent" at the stand-in as `login`, and Tessera's answer at the callback. */
async function signInWithGitHub(
  server: TestServer,
  github: GitHubStandIn | undefined,
  login: string,
  callback: (authorizationUrl: URL, code: string) => Record<string, string> = (url, code) => ({
    code,
    state: url.searchParams.get('state') ?? '',
  }),
) {
  const jar = new CookieJar()
  const start = await visitTessera(
    server,
    jar,
    `/auth/oauth/github/start?${new URLSearchParams({ redirectTo: APP_URL })}`,
  )
  if (start.statusCode !== 302) throw new Error(`start answered ${start.statusCode}: ${start.body}`)
  const authorizationUrl = new URL(String(start.headers.location))
  const code = github ? github.authorize(authorizationUrl.href, login) : 'no-stand-in'
  const answer = await visitTessera(
    server,
    jar,
    `/auth/oauth/github/callback?${new URLSearchParams(callback(authorizationUrl, code))}`,
  )
  return { authorizationUrl, answer, jar, location: String(answer.headers.location ?? '') }
}

async function userOf(server: TestServer, jar: CookieJar) {
  const refreshed = await server.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: { cookie: `tessera_refresh=${jar.get(PUBLIC_URL, 'tessera_refresh')}`, origin: PUBLIC_URL },
    payload: { tokenDelivery: 'body' },
  })
  expect(refreshed.statusCode, refreshed.body).toBe(200)
  return refreshed.json() as {
    user: { id: string; email: string; emailVerified: boolean }
    accessToken: string
  }
}

describe('the github preset, against a local stand-in of GitHub (the real one is unreachable here)', () => {
  let github: GitHubStandIn
  let server: TestServer

  beforeAll(async () => {
    github = await startGitHubStandIn()
    server = await startTestServer(githubEnv(github.url))
  })
  afterAll(async () => {
    await server?.close()
    await github?.close()
  })

  it('sends the browser to GitHub with state and PKCE S256 and no nonce, and signs a new user in with the verified primary email', async () => {
    github.users.set('octo', {
      id: 583231,
      name: 'The Octocat',
      emails: [
        { email: 'octo-old@example.com', primary: false, verified: true, visibility: null },
        { email: 'octo@example.com', primary: true, verified: true, visibility: 'public' },
      ],
    })
    const { authorizationUrl, answer, jar } = await signInWithGitHub(server, github, 'octo')
    expect(`${authorizationUrl.origin}${authorizationUrl.pathname}`).toBe(
      `${github.url}/login/oauth/authorize`,
    )
    const params = authorizationUrl.searchParams
    expect(params.get('client_id')).toBe(GITHUB_CLIENT_ID)
    expect(params.get('redirect_uri')).toBe(`${PUBLIC_URL}/auth/oauth/github/callback`)
    expect(params.get('scope')).toBe('read:user user:email')
    expect(params.get('state')).toMatch(/^[\w-]{43}$/)
    expect(params.get('code_challenge_method')).toBe('S256')
    expect(params.has('nonce')).toBe(false)

    expect(answer.statusCode).toBe(302)
    expect(answer.headers.location).toBe(APP_URL)
    const token = github.tokenRequests.at(-1)
    expect(token?.accept).toContain('application/json')
    expect(token?.form.get('client_secret')).toBe(GITHUB_CLIENT_SECRET)
    const { user, accessToken } = await userOf(server, jar)
    expect(user).toMatchObject({ email: 'octo@example.com', emailVerified: true })
    const identities = await server.app.inject({
      method: 'GET',
      url: '/auth/identities',
      headers: { authorization: `Bearer ${accessToken}` },
    })
    expect(identities.json().identities).toEqual([
      expect.objectContaining({ provider: 'github', email: 'octo@example.com' }),
    ])

    // the numeric id is the subject: a renamed login with a new email is the same account
    github.users.set('octo-renamed', {
      id: 583231,
      name: 'The Octocat',
      emails: [{ email: 'octo-new@example.com', primary: true, verified: true, visibility: null }],
    })
    const again = await signInWithGitHub(server, github, 'octo-renamed')
    expect(again.answer.headers.location).toBe(APP_URL)
    expect((await userOf(server, again.jar)).user.id).toBe(user.id)
  })

  it('refuses an unverified primary email that matches an existing account: ACCOUNT_EXISTS', async () => {
    const victim = await registerUser(server.app, 'victim@example.com')
    expect(victim.userId).toBeTruthy()
    github.users.set('mallory', {
      id: 1001,
      name: null,
      emails: [{ email: 'Victim@example.com', primary: true, verified: false, visibility: null }],
    })
    const { location } = await signInWithGitHub(server, github, 'mallory')
    expect(location).toBe(`${APP_URL}#error=ACCOUNT_EXISTS`)
  })

  it('answers PROVIDER_EMAIL_MISSING when GitHub shows no primary email, or one that is not an address', async () => {
    github.users.set('ghost', {
      id: 1002,
      name: null,
      emails: [{ email: 'other@example.com', primary: false, verified: true, visibility: null }],
    })
    expect((await signInWithGitHub(server, github, 'ghost')).location).toBe(
      `${APP_URL}#error=PROVIDER_EMAIL_MISSING`,
    )
    for (const [id, email] of [
      [1003, 'not an address'],
      [1004, `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.example`],
    ] as const) {
      github.users.set(`odd${id}`, {
        id,
        name: null,
        emails: [{ email, primary: true, verified: true, visibility: null }],
      })
      expect((await signInWithGitHub(server, github, `odd${id}`)).location, email).toBe(
        `${APP_URL}#error=PROVIDER_EMAIL_MISSING`,
      )
    }
  })

  it("answers PROVIDER_SIGN_IN_FAILED for GitHub's token error (a 200 with an error field) and a refused state", async () => {
    const refused = await signInWithGitHub(server, github, 'octo', (url) => ({
      code: 'a-code-github-never-issued',
      state: url.searchParams.get('state') ?? '',
    }))
    expect(github.tokenRequests.at(-1)?.form.get('code')).toBe('a-code-github-never-issued')
    expect(refused.location).toBe(`${APP_URL}#error=PROVIDER_SIGN_IN_FAILED`)
    const denied = await signInWithGitHub(server, github, 'octo', (url) => ({
      error: 'access_denied',
      state: url.searchParams.get('state') ?? '',
    }))
    expect(denied.location).toBe(`${APP_URL}#error=PROVIDER_SIGN_IN_FAILED`)
  })

  it('answers PROVIDER_UNAVAILABLE when its API fails, never a 500', async () => {
    github.apiStatus = 502
    try {
      const { answer, location } = await signInWithGitHub(server, github, 'octo')
      expect(answer.statusCode).toBe(302)
      expect(location).toBe(`${APP_URL}#error=PROVIDER_UNAVAILABLE`)
    } finally {
      github.apiStatus = undefined
    }
  })

  it('counts sign-ins by outcome and requests by endpoint in /metrics', async () => {
    const text = await scrape(server.app)
    const signIns = (outcome: string) =>
      sampleValue(text, 'tessera_provider_sign_ins_total', { provider: 'github', outcome })
    expect(signIns('started')).toBe(9)
    expect(signIns('succeeded')).toBe(2)
    expect(signIns('account_exists')).toBe(1)
    expect(signIns('provider_email_missing')).toBe(3)
    expect(signIns('provider_sign_in_failed')).toBe(2)
    expect(signIns('provider_unavailable')).toBe(1)
    const requests = (name: string, endpoint: string) =>
      sampleValue(text, name, { provider: 'github', endpoint })
    expect(requests('tessera_provider_requests_total', 'token')).toBe(8)
    expect(requests('tessera_provider_requests_total', 'user')).toBe(7)
    expect(requests('tessera_provider_requests_total', 'emails')).toBe(6)
    expect(requests('tessera_provider_request_failures_total', 'user')).toBe(1)
    expect(requests('tessera_provider_request_failures_total', 'token')).toBe(0)
    expect(requests('tessera_provider_request_duration_seconds_count', 'token')).toBe(8)
  })
})

describe('the github preset when GitHub cannot be reached', () => {
  let server: TestServer

  beforeAll(async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const address = closed.address()
    const port = typeof address === 'object' && address ? address.port : 0
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    server = await startTestServer(githubEnv(`http://127.0.0.1:${port}`))
  })
  afterAll(async () => {
    await server?.close()
  })

  it('returns to the app with PROVIDER_UNAVAILABLE, never a 500, and counts the failed token request', async () => {
    const { answer, location } = await signInWithGitHub(server, undefined, 'octo')
    expect(answer.statusCode).toBe(302)
    expect(location).toBe(`${APP_URL}#error=PROVIDER_UNAVAILABLE`)
    const text = await scrape(server.app)
    expect(
      sampleValue(text, 'tessera_provider_request_failures_total', { provider: 'github', endpoint: 'token' }),
    ).toBe(1)
  })
})
