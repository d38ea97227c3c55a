import { spawnSync } from 'node:child_process'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logging.js'
import { testClock } from '../helpers/clock.js'
import { recordingMailer } from '../helpers/mail.js'
import { registerUser, startTestServer, type TestServer } from '../helpers/server.js'
import { mailedToken } from '../limits/limits-helpers.js'

// the reset page's policy (test/http/pages.test.ts): same-origin script only, nothing inline
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
const TOKEN = 'Zm9vYmFyLXRoaXMtaXMtYS1tYWRlLXVwLXRva2VuLTQy'

const lines: string[] = []
const mailer = recordingMailer()
let server: TestServer
beforeAll(async () => {
  const logger = createLogger({ logLevel: 'trace' }, { write: (line: string) => lines.push(line) })
  server = await startTestServer({ TESSERA_MAGIC_LINK: 'on' }, testClock(), { logger, mailer })
})
afterAll(() => server.close())

const get = (url: string, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'GET', url, headers })

function expectSecurityHeaders(response: LightMyRequestResponse): void {
  expect(response.headers['content-security-policy']).toBe(CSP)
  expect(response.headers['referrer-policy']).toBe('no-referrer')
  expect(response.headers['x-content-type-options']).toBe('nosniff')
  expect(response.headers['x-frame-options']).toBe('DENY')
}

const scriptTags = (html: string) => [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]

describe('GET /magic-link', () => {
  it('answers an HTML page with the pages’ security headers, kept out of caches', async () => {
    const response = await get(`/magic-link?token=${TOKEN}`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.headers['cache-control']).toBe('no-store')
    expectSecurityHeaders(response)
  })

  it('has no inline script, style or handler, and loads its one module script relatively', async () => {
    const { body } = await get(`/magic-link?token=${TOKEN}`)
    expect(body).toMatch(/^<!doctype html>/i)
    expect(body).not.toMatch(/\bstyle\s*=/i)
    expect(body).not.toMatch(/<style\b/i)
    expect(body).not.toMatch(/\bon[a-z]+\s*=/i)
    const scripts = scriptTags(body)
    expect(scripts).toHaveLength(1)
    const [, attributes = '', content = ''] = scripts[0] ?? []
    expect(content.trim()).toBe('')
    expect(attributes).toContain('type="module"')
    expect(attributes).toContain('src="pages/magic-link.js"')
  })

  it('never writes the token into the page', async () => {
    expect((await get(`/magic-link?token=${TOKEN}`)).body).not.toContain(TOKEN)
    const odd = await get(`/magic-link?token=${encodeURIComponent('"><script>alert(1)</script>')}`)
    expect(odd.body).not.toContain('alert(1)')
  })

  it('signs in on a click, not on load: one button, the code field hidden until asked for', async () => {
    const { body } = await get('/magic-link')
    expect(body).toMatch(/<button type="submit">Sign me in<\/button>/)
    expect(body).toMatch(/<fieldset id="sign-in-fields" disabled>/)
    expect(body).toMatch(/<form id="code-form" method="post" hidden>/)
    expect(body).toMatch(/<label for="code">/)
    expect(body).toContain('autocomplete="one-time-code"')
  })

  it('sends `/magic-link/` to the slash-less page, keeping the query', async () => {
    const response = await get(`/magic-link/?token=${TOKEN}`)
    expect(response.statusCode).toBe(302)
    expect(response.headers.location).toBe(`../magic-link?token=${TOKEN}`)
  })
})

describe('GET /pages/magic-link.js', () => {
  it('is JavaScript that parses as an ES module, served with the pages’ headers', async () => {
    const response = await get('/pages/magic-link.js')
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(response.headers['cache-control']).toBe('no-cache')
    expectSecurityHeaders(response)
    for (const url of ['/pages/magic-link.js', '/pages/common.js']) {
      const check = spawnSync(process.execPath, ['--input-type=module', '--check'], {
        input: (await get(url)).body,
        encoding: 'utf8',
      })
      expect(check.stderr, url).toBe('')
      expect(check.status, url).toBe(0)
    }
  })

  it('takes the token from the address and posts it only from the submit handlers, to relative URLs', async () => {
    const script = (await get('/pages/magic-link.js')).body
    expect(script).toContain('const token = takeToken()')
    // every request the page makes sits in a submit handler: opening the page spends nothing
    const handlers = script.split("addEventListener('submit'")
    expect(handlers).toHaveLength(3)
    expect(handlers[0]).not.toContain('postJson(')
    expect(handlers[1]).toContain("postJson('auth/magic-link/verify', { token, tokenDelivery: 'cookie' }")
    expect(handlers[2]).toContain("postJson('auth/mfa/verify'")
    // the session cookie is kept for this origin
    expect(script).toContain("credentials: 'same-origin'")
  })
})

describe('the token and the logs', () => {
  it('keeps a real token out of every log line, from the page and from the API', async () => {
    const user = await registerUser(server.app)
    await server.app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: user.email } })
    const token = mailedToken(mailer, user.email, 'magic-link')
    expect((await get(`/magic-link?token=${token}`)).statusCode).toBe(200)
    const signedIn = await server.app.inject({
      method: 'POST',
      url: '/auth/magic-link/verify',
      payload: { token, tokenDelivery: 'body' },
    })
    expect(signedIn.statusCode).toBe(200)
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.join('\n')).toContain('/magic-link?token=[redacted]')
    expect(lines.join('\n')).not.toContain(token)
  })
})
