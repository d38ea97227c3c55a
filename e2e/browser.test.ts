/**
 * @tessera/client in a real browser (Debian's Chromium driven by playwright-core): a page on its own
 * origin signs up, calls the example API, survives access-token expiry and reloads, shares one
 * refresh between two tabs, retries once on TOKEN_EXPIRED, never exposes the refresh cookie, and
 * logs out. .ci/run installs Chromium when it is missing.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../examples/express-api/src/app.js'
import { parseConfig } from '../packages/server/src/config.js'
import { createTessera, type Tessera } from '../packages/server/src/tessera.js'
import { freshDatabase, type TestDatabase } from '../packages/server/test/helpers/database.js'
import { CHROMIUM, close, listen, pageServer } from './helpers/page-server.js'

const PASSWORD = 'correct horse battery staple'
const TTL_SECONDS = 2

// in CI a missing browser is a failure, not a skip
const haveBrowser = existsSync(CHROMIUM) || process.env.CI === 'true'

declare global {
  interface Window {
    client: {
      register(input: {
        email: string
        password: string
      }): Promise<{ status: 'signed-in'; user: { email: string } } | { status: 'verification_pending' }>
      logout(): Promise<void>
    }
    callApi(path: string): Promise<{ status?: number; body?: unknown; error?: string }>
    ready: Promise<string | null>
  }
}

describe.skipIf(!haveBrowser)('@tessera/client in Chromium', () => {
  let database: TestDatabase
  let tessera: Tessera
  let api: Server
  let page: Server
  let browser: Browser
  let context: BrowserContext
  let tab: Page
  let pageUrl: string
  const counts = { refresh: 0, profile: 0 }
  // the next verification by the example API runs this many seconds ahead (a skewed clock)
  let skewNextVerification = 0
  // how far (ms) the test has moved time on: the server, the example API and the pages all run
  // this far ahead of the real clock, so tokens expire without the test waiting for them
  let offset = 0
  const now = () => Date.now() + offset

  beforeAll(async () => {
    page = pageServer()
    const pagePort = await listen(page)
    const tesseraServer = createServer()
    const tesseraPort = await listen(tesseraServer)
    await close(tesseraServer)
    // page and server on one site (localhost), different origins: the SameSite=Strict cookie flows
    const tesseraUrl = `http://localhost:${tesseraPort}`
    const pageOrigin = `http://localhost:${pagePort}`

    database = await freshDatabase()
    const config = parseConfig({
      DATABASE_URL: 'memory://',
      TESSERA_SECRET: 'browser-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
      TESSERA_RATE_LIMIT: 'off',
      TESSERA_PUBLIC_URL: tesseraUrl,
      TESSERA_ALLOWED_ORIGINS: pageOrigin,
      TESSERA_ACCESS_TOKEN_TTL: String(TTL_SECONDS),
    })
    tessera = await createTessera(config, {
      logger: false,
      database: database.handle,
      clock: { now: () => new Date(now()) },
    })
    tessera.app.server.on('request', (request) => {
      if (request.method === 'POST' && request.url === '/auth/refresh') counts.refresh++
    })
    await tessera.app.listen({ port: tesseraPort, host: '127.0.0.1' })

    const app = createApp({
      tesseraUrl,
      allowedOrigins: [pageOrigin],
      verifier: {
        clock: {
          now: () => {
            const skew = skewNextVerification
            skewNextVerification = 0
            return new Date(now() + skew * 1000)
          },
        },
      },
    })
    api = createServer(app)
    api.on('request', (request) => {
      if (request.method === 'GET' && request.url === '/api/profile') counts.profile++
    })
    const apiPort = await listen(api)

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        // localhost must reach the servers above, which listen on 127.0.0.1 only
        '--host-resolver-rules=MAP localhost 127.0.0.1',
      ],
    })
    context = await browser.newContext()
    // every page of the context (the reloads and the second tab too) runs on Playwright's clock,
    // installed before any page script: it flows with real time and its timers fire as usual, and
    // setSystemTime below only moves Date.now, which @tessera/client reads to decide expiry
    await context.clock.install()
    pageUrl =
      `${pageOrigin}/?tessera=${encodeURIComponent(tesseraUrl)}` +
      `&api=${encodeURIComponent(`http://127.0.0.1:${apiPort}`)}`
    tab = await context.newPage()
    await tab.goto(pageUrl)
  })

  afterAll(async () => {
    await browser?.close()
    if (api) await close(api)
    if (page) await close(page)
    await tessera?.close()
    await database?.drop()
  })

  const email = `browser-${Date.now()}@example.com`
  /** Moves time on by `seconds` for the server, the example API and every page at once. */
  const advance = async (seconds: number) => {
    offset += seconds * 1000
    await context.clock.setSystemTime(now())
  }

  it('starts signed out, registers and calls the API', async () => {
    expect(await tab.evaluate(() => window.ready)).toBeNull()
    const result = await tab.evaluate(({ email, password }) => window.client.register({ email, password }), {
      email,
      password: PASSWORD,
    })
    expect(result).toMatchObject({ status: 'signed-in', user: { email } })
    const profile = await tab.evaluate(() => window.callApi('/api/profile'))
    expect(profile).toMatchObject({ status: 200, body: { email, roles: ['user'] } })
  })

  it('never lets page script see the refresh token', async () => {
    expect(await tab.evaluate(() => document.cookie)).not.toContain('tessera_refresh')
    const cookies = await context.cookies()
    const refresh = cookies.find((cookie) => cookie.name === 'tessera_refresh')
    expect(refresh).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/auth' })
    expect(await tab.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }))).not.toContain(
      refresh?.value ?? 'no cookie',
    )
  })

  it('refreshes silently once the 2-second access token has expired', async () => {
    const before = counts.refresh
    const calls = counts.profile
    await advance(TTL_SECONDS + 1)
    const profile = await tab.evaluate(() => window.callApi('/api/profile'))
    expect(profile).toMatchObject({ status: 200 })
    expect(counts.refresh - before).toBe(1)
    // the page saw the expiry on its own clock and refreshed first: no rejected call, no retry
    expect(counts.profile - calls).toBe(1)
  })

  it('stays signed in across a reload, with one refresh', async () => {
    const before = counts.refresh
    await tab.reload()
    expect(await tab.evaluate(() => window.ready)).toBe(email)
    expect(counts.refresh - before).toBe(1)
    expect(await tab.evaluate(() => window.callApi('/api/profile'))).toMatchObject({ status: 200 })
  })

  it('makes one refresh between two tabs whose tokens expire together', async () => {
    const second = await context.newPage()
    try {
      await second.goto(pageUrl)
      expect(await second.evaluate(() => window.ready)).toBe(email)
      await advance(TTL_SECONDS + 1)
      const before = counts.refresh
      const calls = counts.profile
      const [a, b] = await Promise.all([
        tab.evaluate(() => window.callApi('/api/profile')),
        second.evaluate(() => window.callApi('/api/profile')),
      ])
      expect(a).toMatchObject({ status: 200 })
      expect(b).toMatchObject({ status: 200 })
      expect(counts.refresh - before).toBe(1)
      expect(counts.profile - calls).toBe(2)
    } finally {
      await second.close()
    }
  })

  it('refreshes once and retries once when the API says TOKEN_EXPIRED to a token the client thinks fresh', async () => {
    // a fresh token first
    expect(await tab.evaluate(() => window.callApi('/api/profile'))).toMatchObject({ status: 200 })
    const refreshes = counts.refresh
    const calls = counts.profile
    skewNextVerification = 3600
    const profile = await tab.evaluate(() => window.callApi('/api/profile'))
    expect(profile).toMatchObject({ status: 200 })
    expect(counts.refresh - refreshes).toBe(1)
    expect(counts.profile - calls).toBe(2)
  })

  it('logs out: the next call fails and a reload finds no session', async () => {
    await tab.evaluate(() => window.client.logout())
    const after = await tab.evaluate(() => window.callApi('/api/profile'))
    expect(after.status === 401 || after.error !== undefined).toBe(true)
    expect(after.status).not.toBe(200)
    expect((await context.cookies()).find((cookie) => cookie.name === 'tessera_refresh')).toBeUndefined()
    await tab.reload()
    expect(await tab.evaluate(() => window.ready)).toBeNull()
  })
})
