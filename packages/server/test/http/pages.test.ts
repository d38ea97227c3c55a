import { spawnSync } from 'node:child_process'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../helpers/server.js'

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
const TOKEN = 'Zm9vYmFyLXRoaXMtaXMtYS1tYWRlLXVwLXRva2VuLTQy'

let server: TestServer
beforeAll(async () => {
  // lengths other than the defaults, to see that the page takes them from the configuration
  server = await startTestServer({ TESSERA_PASSWORD_MIN_LENGTH: '10', TESSERA_PASSWORD_MAX_LENGTH: '200' })
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
const srcOf = (attributes: string) => /\bsrc="([^"]*)"/.exec(attributes)?.[1]
const inputs = (html: string) => [...html.matchAll(/<input\b[^>]*>/gi)].map((match) => match[0])

/** A URL the page refers to, resolved as the browser would against the page's own path. */
const resolve = (reference: string, base: string) => {
  const url = new URL(reference, `http://localhost${base}`)
  return url.pathname + url.search
}

function expectSafeHtml(html: string): void {
  expect(html).toMatch(/^<!doctype html>/i)
  expect(html).toContain('<html lang="en">')
  expect(html).toMatch(/<meta name="viewport" content="width=device-width, initial-scale=1">/)
  // the CSP forbids inline code and style: none is written
  expect(html).not.toMatch(/\bstyle\s*=/i)
  expect(html).not.toMatch(/<style\b/i)
  expect(html).not.toMatch(/\bon[a-z]+\s*=/i)
  const scripts = scriptTags(html)
  expect(scripts.length).toBeGreaterThan(0)
  for (const [, attributes = '', content = ''] of scripts) {
    expect(content.trim()).toBe('')
    const src = srcOf(attributes)
    // relative to the page: same origin, and under whatever path a proxy mounts the server
    expect(src).toMatch(/^pages\/[a-z-]+\.js$/)
  }
  for (const [, href] of html.matchAll(/\bhref="([^"]*)"/g)) expect(href).toMatch(/^pages\/[a-z-]+\.css$/)
}

describe('GET /reset-password', () => {
  it('answers an HTML form with the security headers and keeps it out of caches', async () => {
    const response = await get(`/reset-password?token=${TOKEN}`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.headers['cache-control']).toBe('no-store')
    expectSecurityHeaders(response)
    expectSafeHtml(response.body)
  })

  it('never writes the token into the page', async () => {
    const response = await get(`/reset-password?token=${TOKEN}`)
    expect(response.body).not.toContain(TOKEN)
    const odd = await get(`/reset-password?token=${encodeURIComponent('"><script>alert(1)</script>')}`)
    expect(odd.body).not.toContain('alert(1)')
  })

  it('has two labelled new-password fields with the configured lengths and a submit button', async () => {
    const { body } = await get(`/reset-password?token=${TOKEN}`)
    const fields = inputs(body)
    expect(fields).toHaveLength(2)
    for (const field of fields) {
      expect(field).toContain('type="password"')
      expect(field).toContain('autocomplete="new-password"')
      expect(field).toContain('required')
      expect(field).toContain('minlength="10"')
      expect(field).toContain('maxlength="200"')
      const id = /\bid="([^"]+)"/.exec(field)?.[1]
      expect(body).toContain(`<label for="${id}">`)
    }
    expect(body).toMatch(/<form id="reset-form" method="post">/)
    expect(body).toMatch(/<button type="submit">Change my password<\/button>/)
    // the fields stay disabled until the script has found a token: no bare form posts a password
    expect(body).toMatch(/<fieldset id="reset-fields" disabled>/)
  })

  it('sends `/reset-password/` to the slash-less page, keeping the query, by a relative redirect', async () => {
    const response = await get(`/reset-password/?token=${TOKEN}`)
    expect(response.statusCode).toBe(302)
    expect(response.headers.location).toBe(`../reset-password?token=${TOKEN}`)
    expect(resolve(String(response.headers.location), '/reset-password/')).toBe(
      `/reset-password?token=${TOKEN}`,
    )
  })
})

describe('GET /verify-email', () => {
  it('answers an HTML page with one confirm button and the security headers', async () => {
    const response = await get(`/verify-email?token=${TOKEN}`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.headers['cache-control']).toBe('no-store')
    expectSecurityHeaders(response)
    expectSafeHtml(response.body)
    expect(response.body).not.toContain(TOKEN)
    expect(response.body).toMatch(/<button type="submit">Confirm my email address<\/button>/)
    expect(response.body.match(/<button\b/g)).toHaveLength(1)
    expect(inputs(response.body)).toHaveLength(0)
  })
})

describe('GET /confirm-email', () => {
  it('answers an HTML page with one confirm button and the security headers', async () => {
    const response = await get(`/confirm-email?token=${TOKEN}`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.headers['cache-control']).toBe('no-store')
    expectSecurityHeaders(response)
    expectSafeHtml(response.body)
    expect(response.body).not.toContain(TOKEN)
    expect(response.body).toMatch(/<button type="submit">Confirm my new email address<\/button>/)
    expect(response.body.match(/<button\b/g)).toHaveLength(1)
    expect(inputs(response.body)).toHaveLength(0)
  })
})

describe('page assets', () => {
  it('serves every script a page loads, and what those scripts import, as JavaScript', async () => {
    for (const page of ['/reset-password', '/verify-email', '/confirm-email']) {
      const { body } = await get(page)
      for (const [, attributes = ''] of scriptTags(body)) {
        const url = resolve(srcOf(attributes) ?? '', page)
        const script = await get(url)
        expect(script.statusCode).toBe(200)
        expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8')
        expectSecurityHeaders(script)
        for (const [, specifier = ''] of script.body.matchAll(/\bfrom '([^']+)'/g)) {
          const imported = await get(resolve(specifier, url))
          expect(imported.statusCode).toBe(200)
          expect(imported.headers['content-type']).toBe('text/javascript; charset=utf-8')
        }
      }
    }
  })

  it('serves scripts that parse as ES modules', async () => {
    for (const url of [
      '/pages/common.js',
      '/pages/reset-password.js',
      '/pages/verify-email.js',
      '/pages/confirm-email.js',
    ]) {
      const { body } = await get(url)
      const check = spawnSync(process.execPath, ['--input-type=module', '--check'], {
        input: body,
        encoding: 'utf8',
      })
      expect(check.stderr, url).toBe('')
      expect(check.status, url).toBe(0)
    }
  })

  it('serves the stylesheet as CSS', async () => {
    const response = await get('/pages/pages.css')
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/css; charset=utf-8')
    expectSecurityHeaders(response)
  })

  it('lets caches keep assets only while they revalidate, and answers 304 to a matching ETag', async () => {
    const first = await get('/pages/reset-password.js')
    expect(first.headers['cache-control']).toBe('no-cache')
    const etag = String(first.headers.etag)
    expect(etag).toMatch(/^"[\w-]+"$/)
    const again = await get('/pages/reset-password.js', { 'if-none-match': `W/${etag}` })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    const other = await get('/pages/verify-email.js', { 'if-none-match': etag })
    expect(other.statusCode).toBe(200)
  })

  it('reads the token only from the address, removes it with replaceState and posts to a relative URL', async () => {
    const common = (await get('/pages/common.js')).body
    expect(common).toContain("searchParams.get('token')")
    expect(common).toContain('history.replaceState(')
    expect(common).toContain('new URL(path, location.href)')
    expect((await get('/pages/reset-password.js')).body).toContain("postJson('auth/reset-password'")
    expect((await get('/pages/verify-email.js')).body).toContain("postJson('auth/verify-email'")
    expect((await get('/pages/confirm-email.js')).body).toContain("postJson('auth/email/confirm'")
  })
})

describe('scope', () => {
  it('keeps the pages out of the OpenAPI document', async () => {
    const paths = Object.keys((await get('/openapi.json')).json<{ paths: Record<string, unknown> }>().paths)
    expect(paths.some((path) => path.includes('reset-password') && !path.startsWith('/auth/'))).toBe(false)
    expect(paths).not.toContain('/verify-email')
    expect(paths).not.toContain('/confirm-email')
    expect(paths.some((path) => path.startsWith('/pages/'))).toBe(false)
  })

  it('leaves the API routes without the pages’ headers', async () => {
    const response = await get('/healthz')
    // the API's own policy (helmet's, see observability/security-headers.test.ts), not the pages'
    expect(response.headers['content-security-policy']).toMatch(/^default-src 'none';/)
    expect(response.headers['content-security-policy']).not.toContain("script-src 'self'")
  })
})
