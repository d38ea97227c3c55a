/**
 * The server's own reset-password, verify-email and confirm-email pages in a real browser (Debian's Chromium
 * driven by playwright-core): the links a recording mailer captured are opened as a user would,
 * under the pages' CSP, and the outcome is checked against the API.
 */
import { existsSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../packages/server/src/config.js'
import type { Mail, Mailer, MailKind } from '../packages/server/src/mail/mail.js'
import { createTessera, type Tessera } from '../packages/server/src/tessera.js'
import { freshDatabase, type TestDatabase } from '../packages/server/test/helpers/database.js'

const CHROMIUM = '/usr/bin/chromium'
const OLD_PASSWORD = 'correct horse battery staple'
const NEW_PASSWORD = 'a brand new passphrase 42'
// the shape of a real token (43 base64url characters), so the server looks it up and finds nothing
const MADE_UP_TOKEN = 'bm90LWEtcmVhbC10b2tlbi1qdXN0LWEtbWFkZS11cC1v'

// in CI a missing browser is a failure, not a skip
const haveBrowser = existsSync(CHROMIUM) || process.env.CI === 'true'

const listen = (server: Server, port = 0): Promise<number> =>
  new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  )

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()))

/** A reverse proxy that serves the server under `prefix`, as one mounted behind a path would be. */
function prefixProxy(targetPort: number, prefix: string): Server {
  return createServer((request, response) => {
    const url = request.url ?? '/'
    if (!url.startsWith(`${prefix}/`)) return void response.writeHead(404).end()
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port: targetPort,
        method: request.method,
        path: url.slice(prefix.length),
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(response)
      },
    )
    upstream.on('error', () => response.writeHead(502).end())
    request.pipe(upstream)
  })
}

interface Watched {
  tab: Page
  console: string[]
  errors: string[]
}

describe.skipIf(!haveBrowser)('account pages in Chromium', () => {
  let database: TestDatabase
  let tessera: Tessera
  let browser: Browser
  let base: string
  const mails: Mail[] = []
  const posts: string[] = []
  const watched: Watched[] = []

  const recordingMailer: Mailer = {
    send: (mail) => {
      mails.push(mail)
    },
    idle: async () => {},
    close: async () => {},
  }

  beforeAll(async () => {
    // a free port first: the public URL, which the mailed links point at, must name it
    const probe = createServer()
    const port = await listen(probe)
    await close(probe)
    base = `http://127.0.0.1:${port}`

    database = await freshDatabase()
    const config = parseConfig({
      DATABASE_URL: 'memory://',
      TESSERA_SECRET: 'reset-page-secret-0123456789-abcdefghijklmnopqrstuvw',
      TESSERA_RATE_LIMIT: 'off',
      TESSERA_PUBLIC_URL: base,
    })
    tessera = await createTessera(config, {
      logger: false,
      database: database.handle,
      mailer: recordingMailer,
    })
    tessera.app.server.on('request', (request) => {
      if (request.method === 'POST') posts.push(request.url ?? '')
    })
    await tessera.app.listen({ port, host: '127.0.0.1' })

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
  })

  afterAll(async () => {
    await browser?.close()
    await tessera?.close()
    await database?.drop()
  })

  // every page of every test: the CSP held without a violation, and the scripts threw nothing
  afterEach(async () => {
    for (const { tab, console, errors } of watched.splice(0)) {
      await tab.context().close()
      expect(console.filter((text) => text.includes('Content Security Policy'))).toEqual([])
      expect(errors).toEqual([])
    }
  })

  /** Opens `url` in a fresh browser context, recording console messages and uncaught errors. */
  async function open(url: string): Promise<Watched> {
    const context = await browser.newContext()
    const tab = await context.newPage()
    const page: Watched = { tab, console: [], errors: [] }
    tab.on('console', (message) => page.console.push(message.text()))
    tab.on('pageerror', (error) => page.errors.push(error.message))
    watched.push(page)
    await tab.goto(url)
    return page
  }

  const api = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })

  let counter = 0
  async function register(): Promise<{ email: string; accessToken: string }> {
    const email = `pages-${process.pid}-${Date.now()}-${++counter}@example.com`
    const response = await api('/auth/register', { email, password: OLD_PASSWORD, tokenDelivery: 'body' })
    expect(response.status).toBe(201)
    const { accessToken } = (await response.json()) as { accessToken: string }
    return { email, accessToken }
  }

  /** The link of the last mail of that kind to `to`, as the user would click it. */
  function linkIn(kind: MailKind, to: string): string {
    const mail = mails.filter((each) => each.kind === kind && each.to === to).at(-1)
    const link = mail?.text.match(/https?:\/\/\S+[?&]token=[\w-]+/)?.[0]
    if (!link) throw new Error(`no ${kind} link mailed to ${to}`)
    return link
  }

  const outcome = (tab: Page, text: string | RegExp) =>
    tab.locator('#outcome', { hasText: text }).waitFor({ timeout: 10_000 })

  const login = (email: string, password: string) =>
    api('/auth/login', { email, password, tokenDelivery: 'body' })

  const emailVerified = async (accessToken: string): Promise<boolean> => {
    const response = await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } })
    const body = (await response.json()) as { user: { emailVerified: boolean } }
    return body.user.emailVerified
  }

  describe('reset password', () => {
    it('says a link without a token is incomplete and keeps the form disabled', async () => {
      const { tab } = await open(`${base}/reset-password`)
      await outcome(tab, 'This link is incomplete')
      expect(await tab.locator('#password').isDisabled()).toBe(true)
      expect(await tab.locator('button[type=submit]').isDisabled()).toBe(true)
    })

    it('takes the token out of the address bar as soon as the page loads', async () => {
      const { tab } = await open(`${base}/reset-password?token=${MADE_UP_TOKEN}&utm_source=mail`)
      await tab.locator('#reset-fields:enabled').waitFor()
      expect(tab.url()).toBe(`${base}/reset-password?utm_source=mail`)
      expect(tab.url()).not.toContain(MADE_UP_TOKEN)
    })

    it('blocks a repeat that differs, in the browser, without calling the API', async () => {
      const { tab } = await open(`${base}/reset-password?token=${MADE_UP_TOKEN}`)
      const before = posts.length
      await tab.fill('#password', NEW_PASSWORD)
      await tab.fill('#password-repeat', `${NEW_PASSWORD}!`)
      await tab.click('button[type=submit]')
      expect(
        await tab.locator('#password-repeat').evaluate((input: HTMLInputElement) => input.validationMessage),
      ).toBe('The two passwords are not the same.')
      expect(posts.length).toBe(before)
    })

    it('posts JSON to the API and shows that a made-up link is invalid', async () => {
      const { tab } = await open(`${base}/reset-password?token=${MADE_UP_TOKEN}`)
      await tab.fill('#password', NEW_PASSWORD)
      await tab.fill('#password-repeat', NEW_PASSWORD)
      await tab.click('button[type=submit]')
      await outcome(tab, 'invalid or has expired')
      expect(await tab.locator('#outcome').textContent()).toContain('Ask for a new password-reset email')
      // the link cannot work again: nothing more to submit
      expect(await tab.locator('#password').isDisabled()).toBe(true)
      expect(posts.at(-1)).toBe('/auth/reset-password')
    })

    it("lists the API's field messages for VALIDATION_FAILED and lets the user correct them", async () => {
      const { tab } = await open(`${base}/reset-password?token=${MADE_UP_TOKEN}`)
      // past the browser's own length check, to see the server's answer rendered
      await tab.locator('#reset-fields:enabled').waitFor()
      await tab.$$eval('input', (inputs) => {
        for (const input of inputs) input.removeAttribute('minlength')
      })
      await tab.fill('#password', 'short')
      await tab.fill('#password-repeat', 'short')
      await tab.click('button[type=submit]')
      await outcome(tab, 'Please correct the following')
      expect(await tab.locator('#outcome li').first().textContent()).toMatch(/^New password: /)
      expect(await tab.locator('#password').getAttribute('aria-invalid')).toBe('true')
      expect(await tab.locator('#password').isEnabled()).toBe(true)
    })

    it('says when to retry after a 429, and after a network failure', async () => {
      const { tab } = await open(`${base}/reset-password?token=${MADE_UP_TOKEN}`)
      await tab.route('**/auth/reset-password', (route) =>
        route.fulfill({
          status: 429,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '30' },
          body: JSON.stringify({
            type: 'about:blank',
            title: 'Too Many Requests',
            status: 429,
            code: 'RATE_LIMITED',
          }),
        }),
      )
      await tab.fill('#password', NEW_PASSWORD)
      await tab.fill('#password-repeat', NEW_PASSWORD)
      await tab.click('button[type=submit]')
      await outcome(tab, 'Too many attempts. Try again in 30 seconds.')
      expect(await tab.locator('#password').isEnabled()).toBe(true)

      await tab.unroute('**/auth/reset-password')
      await tab.route('**/auth/reset-password', (route) => route.abort('connectionrefused'))
      await tab.click('button[type=submit]')
      await outcome(tab, 'The server could not be reached')
      expect(await tab.locator('#password').isEnabled()).toBe(true)
    })

    it('resets the password with the mailed link, once', async () => {
      const { email } = await register()
      expect((await api('/auth/forgot-password', { email })).status).toBe(202)
      const link = linkIn('reset-password', email)
      expect(link.startsWith(`${base}/reset-password?token=`)).toBe(true)

      const { tab } = await open(link)
      await tab.locator('#reset-fields:enabled').waitFor()
      expect(tab.url()).not.toContain('token=')

      // a weak password is refused before the token is used up: the same link still works after
      const weak = `${email.split('@')[0]} is my password`
      await tab.fill('#password', weak)
      await tab.fill('#password-repeat', weak)
      await tab.click('button[type=submit]')
      await outcome(tab, 'must not contain your email address')
      expect(await tab.locator('#password').getAttribute('aria-invalid')).toBe('true')

      await tab.fill('#password', NEW_PASSWORD)
      await tab.fill('#password-repeat', NEW_PASSWORD)
      await tab.click('button[type=submit]')
      await outcome(tab, 'Your password has been changed. You can sign in now.')
      expect(await tab.locator('#reset-form').isHidden()).toBe(true)
      expect(tab.url()).not.toContain('token=')

      expect((await login(email, NEW_PASSWORD)).status).toBe(200)
      expect((await login(email, OLD_PASSWORD)).status).toBe(401)

      const again = await open(link)
      await again.tab.fill('#password', 'another brand new passphrase 43')
      await again.tab.fill('#password-repeat', 'another brand new passphrase 43')
      await again.tab.click('button[type=submit]')
      await outcome(again.tab, 'invalid or has expired')
      expect((await login(email, NEW_PASSWORD)).status).toBe(200)
    })
  })

  describe('verify email', () => {
    it('says a link without a token is incomplete and keeps the button disabled', async () => {
      const { tab } = await open(`${base}/verify-email`)
      await outcome(tab, 'This link is incomplete')
      expect(await tab.locator('button[type=submit]').isDisabled()).toBe(true)
    })

    it('shows that a made-up link is invalid after the click', async () => {
      const { tab } = await open(`${base}/verify-email?token=${MADE_UP_TOKEN}`)
      await tab.locator('#verify-fields:enabled').waitFor()
      expect(tab.url()).toBe(`${base}/verify-email`)
      await tab.click('button[type=submit]')
      await outcome(tab, 'invalid or has expired')
      expect(await tab.locator('button[type=submit]').isDisabled()).toBe(true)
    })

    it('confirms the address with the mailed link on the click, never on the page load', async () => {
      const { email, accessToken } = await register()
      const link = linkIn('verify-email', email)
      expect(link.startsWith(`${base}/verify-email?token=`)).toBe(true)

      const { tab } = await open(link)
      await tab.locator('#verify-fields:enabled').waitFor()
      // what a mail scanner does: load the page, and nothing more
      expect(await emailVerified(accessToken)).toBe(false)

      await tab.click('button:has-text("Confirm my email address")')
      await outcome(tab, 'Your email address is confirmed.')
      expect(await emailVerified(accessToken)).toBe(true)

      const again = await open(link)
      await again.tab.click('button[type=submit]')
      await outcome(again.tab, 'invalid or has expired')
    })

    it('works mounted under a path behind a proxy: assets and API are reached relative to the page', async () => {
      const proxy = prefixProxy(Number(new URL(base).port), '/tessera')
      const proxyPort = await listen(proxy)
      try {
        const { tab } = await open(
          `http://127.0.0.1:${proxyPort}/tessera/verify-email?token=${MADE_UP_TOKEN}`,
        )
        // the stylesheet applied: <main> is a card no wider than 28rem
        expect(await tab.locator('main').evaluate((main) => getComputedStyle(main).maxWidth)).toBe('448px')
        await tab.click('button[type=submit]')
        await outcome(tab, 'invalid or has expired')
        expect(posts.at(-1)).toBe('/auth/verify-email')
      } finally {
        proxy.closeAllConnections()
        await close(proxy)
      }
    })
  })

  describe('confirm a new email address', () => {
    it('says a link without a token is incomplete and keeps the button disabled', async () => {
      const { tab } = await open(`${base}/confirm-email`)
      await outcome(tab, 'This link is incomplete')
      expect(await tab.locator('button[type=submit]').isDisabled()).toBe(true)
    })

    it('changes the address with the link mailed to the new one, on the click, once', async () => {
      const { email, accessToken } = await register()
      const newEmail = `moved-${email}`
      const request = await api(
        '/auth/email',
        { newEmail, password: OLD_PASSWORD },
        { authorization: `Bearer ${accessToken}` },
      )
      expect(request.status).toBe(202)
      const link = linkIn('confirm-email-change', newEmail)
      expect(link.startsWith(`${base}/confirm-email?token=`)).toBe(true)

      const { tab } = await open(link)
      await tab.locator('#confirm-fields:enabled').waitFor()
      expect(tab.url()).toBe(`${base}/confirm-email`)
      // loading the page changed nothing
      expect((await login(email, OLD_PASSWORD)).status).toBe(200)

      await tab.click('button:has-text("Confirm my new email address")')
      await outcome(tab, 'Your new email address is confirmed')
      expect(posts.at(-1)).toBe('/auth/email/confirm')
      expect((await login(newEmail, OLD_PASSWORD)).status).toBe(200)
      expect((await login(email, OLD_PASSWORD)).status).toBe(401)

      const again = await open(link)
      await again.tab.click('button[type=submit]')
      await outcome(again.tab, 'invalid or has expired')
    })
  })
})
