/**
 * The server's magic-link page in a real browser (Debian's Chromium driven by playwright-core): the
 * links a recording mailer captured are opened as a user would, under the pages' CSP. Opening the
 * page spends nothing; a click signs in and leaves the refresh cookie with this origin; an account
 * with TOTP is asked for its code on the page.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Secret, TOTP } from 'otpauth'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../packages/server/src/config.js'
import type { Mail, Mailer, MailKind } from '../packages/server/src/mail/mail.js'
import { createTessera, type Tessera } from '../packages/server/src/tessera.js'
import { testClock } from '../packages/server/test/helpers/clock.js'
import { freshDatabase, type TestDatabase } from '../packages/server/test/helpers/database.js'

const CHROMIUM = '/usr/bin/chromium'
const PASSWORD = 'correct horse battery staple'

// in CI a missing browser is a failure, not a skip
const haveBrowser = existsSync(CHROMIUM) || process.env.CI === 'true'

const listen = (server: Server, port = 0): Promise<number> =>
  new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  )

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()))

interface Watched {
  tab: Page
  console: string[]
  errors: string[]
}

describe.skipIf(!haveBrowser)('the magic-link page in Chromium', () => {
  // the server's clock: TOTP codes are computed for it, and moved past a used code's step
  const clock = testClock()
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
      TESSERA_SECRET: 'magic-page-secret-0123456789-abcdefghijklmnopqrstuvw',
      TESSERA_RATE_LIMIT: 'off',
      TESSERA_PUBLIC_URL: base,
      TESSERA_MAGIC_LINK: 'on',
    })
    tessera = await createTessera(config, {
      logger: false,
      database: database.handle,
      mailer: recordingMailer,
      clock,
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

  const api = (path: string, body: unknown, accessToken?: string) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      },
      body: JSON.stringify(body),
    })

  let counter = 0
  async function register(): Promise<{ email: string; accessToken: string }> {
    const email = `magic-page-${process.pid}-${Date.now()}-${++counter}@example.com`
    const response = await api('/auth/register', { email, password: PASSWORD, tokenDelivery: 'body' })
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

  async function magicLinkFor(email: string): Promise<string> {
    expect((await api('/auth/magic-link', { email })).status).toBe(202)
    const link = linkIn('magic-link', email)
    expect(link.startsWith(`${base}/magic-link?token=`)).toBe(true)
    return link
  }

  const outcome = (tab: Page, text: string | RegExp) =>
    tab.locator('#outcome', { hasText: text }).waitFor({ timeout: 10_000 })

  const codeAt = (secret: string) =>
    new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({
      timestamp: clock.now().getTime(),
    })

  it('spends nothing on load: the link still signs in with a click afterwards', async () => {
    const { email } = await register()
    const link = await magicLinkFor(email)
    const before = posts.length

    const first = await open(link)
    await first.tab.locator('#sign-in-fields:enabled').waitFor()
    // the token left the address bar, and no request was made
    expect(first.tab.url()).toBe(`${base}/magic-link`)
    expect(posts.length).toBe(before)

    const { tab } = await open(link)
    await tab.click('button[type=submit]')
    await outcome(tab, 'You are signed in.')
    expect(posts.at(-1)).toBe('/auth/magic-link/verify')
    // the session is this origin's: the refresh cookie is in the browser, out of reach of scripts
    const cookie = (await tab.context().cookies()).find((each) => each.name === 'tessera_refresh')
    expect(cookie).toMatchObject({ path: '/auth', httpOnly: true, sameSite: 'Strict' })
    // and it refreshes
    const refreshed = await tab.evaluate(async () => {
      const response = await fetch('auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      })
      return response.status
    })
    expect(refreshed).toBe(200)
  })

  it('says a used link is invalid and keeps the button disabled', async () => {
    const { email } = await register()
    const link = await magicLinkFor(email)
    const token = new URL(link).searchParams.get('token')
    expect((await api('/auth/magic-link/verify', { token, tokenDelivery: 'body' })).status).toBe(200)

    const { tab } = await open(link)
    await tab.click('button[type=submit]')
    await outcome(tab, 'invalid or has expired')
    expect(await tab.locator('#outcome').textContent()).toContain('Ask for a new sign-in email')
    expect(await tab.locator('button[type=submit]').first().isDisabled()).toBe(true)
  })

  it('says a link without a token is incomplete', async () => {
    const { tab } = await open(`${base}/magic-link`)
    await outcome(tab, 'This link is incomplete')
    expect(await tab.locator('button[type=submit]').first().isDisabled()).toBe(true)
  })

  it('asks an account with TOTP for its code, refuses a wrong one, then signs in', async () => {
    const { email, accessToken } = await register()
    expect(
      (
        await api('/auth/verify-email', {
          token: new URL(linkIn('verify-email', email)).searchParams.get('token'),
        })
      ).status,
    ).toBe(204)
    const setup = await api('/auth/mfa/totp/setup', {}, accessToken)
    expect(setup.status).toBe(200)
    const { secret } = (await setup.json()) as { secret: string }
    expect((await api('/auth/mfa/totp/confirm', { code: codeAt(secret) }, accessToken)).status).toBe(200)
    // the next code differs from the one that confirmed
    clock.advance(30)

    const { tab } = await open(await magicLinkFor(email))
    await tab.click('button[type=submit]')
    await tab.locator('#code-form').waitFor({ state: 'visible', timeout: 10_000 })
    const right = codeAt(secret)
    await tab.fill('#code', right === '000000' ? '111111' : '000000')
    await tab.click('#code-form button[type=submit]')
    await outcome(tab, 'The code is wrong')
    await tab.fill('#code', right)
    await tab.click('#code-form button[type=submit]')
    await outcome(tab, 'You are signed in.')
    expect(posts.at(-1)).toBe('/auth/mfa/verify')
    expect((await tab.context().cookies()).some((each) => each.name === 'tessera_refresh')).toBe(true)
  })
})
