/**
 * Sign in with a provider in a real browser: Debian's Chromium (playwright-core), a page on its own
 * origin using the built @tessera/client, a real Tessera, and a real OpenID provider (panva's
 * oidc-provider, started here on 127.0.0.1) whose own login and consent pages the browser fills
 * in. Code mode with the exchange, cookie mode, linking while signed in, and a cancelled sign-in
 * that returns with `#error=`.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LoginResult, TesseraClient } from '../packages/client/src/index.js'
import { idpEnv, type LocalIdp, startLocalIdp } from '../packages/client/test/helpers/local-idp.js'
import { parseConfig } from '../packages/server/src/config.js'
import { createTessera, type Tessera } from '../packages/server/src/tessera.js'
import { freshDatabase, type TestDatabase } from '../packages/server/test/helpers/database.js'
import { CHROMIUM, close, listen, pageServer } from './helpers/page-server.js'

const PASSWORD = 'correct horse battery staple'
/** How long any one step in the browser may take. */
const STEP = 15_000

// in CI a missing browser is a failure, not a skip
const haveBrowser = existsSync(CHROMIUM) || process.env.CI === 'true'

type Outcome<T> = { result: T; error?: undefined } | { error: string; result?: undefined }

declare global {
  interface Window {
    tessera: TesseraClient
    signInResult: Promise<Outcome<LoginResult | null>>
    linkResult: Promise<Outcome<{ id: string; provider: string } | null>>
  }
}

describe.skipIf(!haveBrowser)('sign in with a provider, in Chromium against a local oidc-provider', () => {
  let database: TestDatabase
  let tessera: Tessera
  let idp: LocalIdp
  let pages: Server
  let browser: Browser
  let tesseraUrl: string
  let pageOrigin: string

  /**
   * A page of the app; the query tells it Tessera's port (not its URL: Tessera refuses a return
   * URL with an encoded slash anywhere).
   */
  const appPage = (path: string) => `${pageOrigin}/providers/${path}?tessera=${new URL(tesseraUrl).port}`

  beforeAll(async () => {
    pages = pageServer()
    const pagePort = await listen(pages)
    const probe = createServer()
    const tesseraPort = await listen(probe)
    await close(probe)
    // page and Tessera on one site (localhost), different origins; the provider on 127.0.0.1
    tesseraUrl = `http://localhost:${tesseraPort}`
    pageOrigin = `http://localhost:${pagePort}`

    idp = await startLocalIdp()
    idp.register([`${tesseraUrl}/auth/oauth/acme/callback`])
    database = await freshDatabase()
    const config = parseConfig({
      DATABASE_URL: 'memory://',
      TESSERA_SECRET: 'providers-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
      TESSERA_RATE_LIMIT: 'off',
      TESSERA_PUBLIC_URL: tesseraUrl,
      TESSERA_ALLOWED_ORIGINS: pageOrigin,
      ...idpEnv(idp, `${pageOrigin}/providers/`),
    })
    tessera = await createTessera(config, { logger: false, database: database.handle })
    await tessera.app.listen({ port: tesseraPort, host: '127.0.0.1' })

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--host-resolver-rules=MAP localhost 127.0.0.1',
      ],
    })
  })

  afterAll(async () => {
    await browser?.close()
    if (pages) await close(pages)
    await tessera?.close()
    await idp?.close()
    await database?.drop()
  })

  /** A fresh browser profile (no cookies at Tessera or the provider) on the app's login page. */
  async function openApp(): Promise<Page> {
    const context = await browser.newContext()
    const tab = await context.newPage()
    tab.setDefaultTimeout(STEP)
    await tab.goto(appPage('login'))
    expect(await tab.evaluate(() => window.signInResult)).toEqual({ result: null })
    return tab
  }

  const atProvider = (url: URL) => url.origin === idp.issuer

  /** The next document the tab commits to (a redirect through Tessera commits nothing). */
  const nextPage = (tab: Page) =>
    tab
      .waitForEvent('framenavigated', { predicate: (frame) => frame === tab.mainFrame() })
      .then((frame) => new URL(frame.url()))

  /**
   * Does `action` (which sends the browser away), then uses the provider's pages as a person
   * would: its login form (any login name and password; the name is the account), then its
   * consent page, until the browser is back at the app, whose page has then loaded. A provider
   * session of this profile may skip either page. Returns the app's URL as it arrived.
   */
  async function throughProvider(tab: Page, login: string, action: () => Promise<unknown>): Promise<URL> {
    let arrived = nextPage(tab)
    await action()
    let url = await arrived
    for (let step = 0; step < 4 && atProvider(url); step += 1) {
      // not 'load': the provider's page imports a web font, and this machine has no internet
      await tab.waitForLoadState('domcontentloaded')
      if (await tab.locator('input[name=login]').count()) {
        await tab.fill('input[name=login]', login)
        await tab.fill('input[name=password]', 'any password')
      }
      arrived = nextPage(tab)
      await tab.click('form button[type=submit]')
      url = await arrived
    }
    expect(url.origin).toBe(pageOrigin)
    await tab.waitForLoadState('load')
    return url
  }

  /** Starts `signInWith` on the page without waiting for it, as a button's click handler would. */
  const clickSignIn =
    (tab: Page, redirectTo: string, mode: 'code' | 'cookie' = 'code') =>
    () =>
      tab.evaluate(
        ({ redirectTo, mode }) => {
          void window.tessera.signInWith('acme', { redirectTo, mode })
        },
        { redirectTo, mode },
      )

  it('code mode: the provider login and consent pages, the callback, then completeSignIn exchanges the code', async () => {
    const email = `grace-${Date.now()}@example.com`
    idp.accounts.set('grace', { email, email_verified: true, name: 'Grace Hopper' })
    const tab = await openApp()

    const pagesSeen: string[] = []
    tab.on('framenavigated', (frame) => {
      if (frame === tab.mainFrame()) pagesSeen.push(new URL(frame.url()).origin)
    })
    const back = await throughProvider(tab, 'grace', clickSignIn(tab, appPage('done')))
    // the provider's own pages: its login, then its consent (then replaceState on the app's page)
    expect(pagesSeen.slice(0, 3)).toEqual([idp.issuer, idp.issuer, pageOrigin])

    expect(back.pathname).toBe('/providers/done')
    const outcome = await tab.evaluate(() => window.signInResult)
    expect(outcome.result).toMatchObject({ status: 'signed-in', user: { email, name: 'Grace Hopper' } })
    // the one-time code is gone from the address bar, the verifier from sessionStorage
    expect(new URL(tab.url()).hash).toBe('')
    expect(await tab.evaluate(() => sessionStorage.length)).toBe(0)
    expect(await tab.evaluate(() => window.tessera.state)).toBe('signed-in')
    // a real session: after a reload the refresh cookie brings it back
    await tab.reload()
    expect(await tab.evaluate(() => window.signInResult)).toEqual({ result: null })
    expect((await tab.evaluate(() => window.tessera.restore()))?.email).toBe(email)
    await tab.context().close()
  })

  it('cookie mode: the callback sets the refresh cookie, and the return page is signed in by it', async () => {
    const email = `ivan-${Date.now()}@example.com`
    idp.accounts.set('ivan', { email, email_verified: true })
    const tab = await openApp()
    let exchanges = 0
    tab.on('request', (request) => {
      if (request.url().endsWith('/auth/oauth/exchange')) exchanges += 1
    })

    const back = await throughProvider(tab, 'ivan', clickSignIn(tab, appPage('done'), 'cookie'))

    expect(back.hash).toBe('')
    const outcome = await tab.evaluate(() => window.signInResult)
    expect(outcome.result).toMatchObject({ status: 'signed-in', user: { email } })
    expect(exchanges).toBe(0)
    const cookies = await tab.context().cookies(`${tesseraUrl}/auth/refresh`)
    expect(cookies.find((cookie) => cookie.name === 'tessera_refresh')?.httpOnly).toBe(true)
    await tab.context().close()
  })

  it('linking while signed in: a password user links the provider, then signs in with it', async () => {
    const email = `kim-${Date.now()}@example.com`
    // the provider's address is another one, and not verified: linking needs neither
    idp.accounts.set('kim-at-acme', { email: `kim-work-${Date.now()}@example.com`, email_verified: false })
    const tab = await openApp()
    const registered = await tab.evaluate(
      ({ email, password }) => window.tessera.register({ email, password }),
      { email, password: PASSWORD },
    )
    expect(registered).toMatchObject({ status: 'signed-in' })

    await throughProvider(tab, 'kim-at-acme', () =>
      tab.evaluate((redirectTo) => {
        void window.tessera.linkProvider('acme', { redirectTo })
      }, appPage('settings')),
    )

    const linked = await tab.evaluate(() => window.linkResult)
    expect(linked.result).toMatchObject({ provider: 'acme' })
    expect(await tab.evaluate(() => window.signInResult)).toEqual({ result: null })
    expect(new URL(tab.url()).hash).toBe('')
    const identities = await tab.evaluate(() => window.tessera.listIdentities())
    expect(identities.map((identity) => identity.id)).toEqual([linked.result?.id])

    // signed out, the provider alone signs in to the password account
    await tab.evaluate(() => window.tessera.logout())
    await tab.goto(appPage('login'))
    await throughProvider(tab, 'kim-at-acme', clickSignIn(tab, appPage('done')))
    const outcome = await tab.evaluate(() => window.signInResult)
    expect(outcome.result).toMatchObject({ status: 'signed-in', user: { email } })
    await tab.context().close()
  })

  it('a sign-in cancelled at the provider returns with #error=, and completeSignIn rejects with the code', async () => {
    const tab = await openApp()
    const atLogin = nextPage(tab)
    await clickSignIn(tab, appPage('done'))()
    expect((await atLogin).origin).toBe(idp.issuer)
    await tab.waitForLoadState('domcontentloaded')
    const back = nextPage(tab)
    await tab.click('text=[ Cancel ]')
    expect((await back).hash).toBe('#error=PROVIDER_SIGN_IN_FAILED')
    await tab.waitForLoadState('load')

    const outcome = await tab.evaluate(() => window.signInResult)
    expect(outcome).toEqual({ error: 'PROVIDER_SIGN_IN_FAILED' })
    expect(new URL(tab.url()).hash).toBe('')
    expect(await tab.evaluate(() => window.tessera.state)).not.toBe('signed-in')
    await tab.context().close()
  })
})
