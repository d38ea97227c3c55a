import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PAGE_CSP } from '../../src/http/routes/pages.js'
import { registerUser, startTestServer, type TestServer } from '../helpers/server.js'

const API_CSP = "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'"
const APP_ORIGIN = 'https://app.example.com'

let server: TestServer
let https: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_ALLOWED_ORIGINS: `http://localhost:3000,${APP_ORIGIN}` })
  https = await startTestServer({ TESSERA_PUBLIC_URL: 'https://auth.example.com' })
})
afterAll(async () => {
  await server.close()
  await https.close()
})

function expectApiHeaders(response: LightMyRequestResponse) {
  expect(response.headers['content-security-policy']).toBe(API_CSP)
  expect(response.headers['x-content-type-options']).toBe('nosniff')
  expect(response.headers['x-frame-options']).toBe('DENY')
  expect(response.headers['referrer-policy']).toBe('no-referrer')
  expect(response.headers['cross-origin-opener-policy']).toBe('same-origin')
  expect(response.headers['x-powered-by']).toBeUndefined()
}

describe('security headers', () => {
  it('are set on API answers, success and problem alike', async () => {
    const registered = await registerUser(server.app)
    expectApiHeaders(registered.response)
    expect(registered.response.headers['cross-origin-resource-policy']).toBe('same-site')
    const problem = await server.app.inject({ method: 'POST', url: '/auth/login', payload: {} })
    expect(problem.statusCode).toBe(400)
    expectApiHeaders(problem)
    const unknown = await server.app.inject({ url: '/no/such/route' })
    expect(unknown.statusCode).toBe(404)
    expectApiHeaders(unknown)
  })

  it('include HSTS only when the public URL is https, without includeSubDomains', async () => {
    expect(
      (await server.app.inject({ url: '/healthz' })).headers['strict-transport-security'],
    ).toBeUndefined()
    const secure = await https.app.inject({ url: '/healthz' })
    expect(secure.headers['strict-transport-security']).toBe('max-age=31536000')
  })

  it('leave the JWKS and discovery document readable from other origins', async () => {
    for (const url of ['/.well-known/jwks.json', '/.well-known/openid-configuration']) {
      const response = await server.app.inject({ url, headers: { origin: APP_ORIGIN } })
      expect(response.statusCode, url).toBe(200)
      expect(response.headers['access-control-allow-origin']).toBe(APP_ORIGIN)
      // CORP governs no-cors loads; these documents are for any verifier, wherever it runs
      expect(response.headers['cross-origin-resource-policy']).toBe('cross-origin')
      expect(response.headers['content-security-policy']).toBe(API_CSP)
    }
    const preflight = await server.app.inject({
      method: 'OPTIONS',
      url: '/.well-known/jwks.json',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'GET' },
    })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe(APP_ORIGIN)
  })

  it('give way to the reset and verification pages’ own CSP', async () => {
    for (const url of ['/reset-password?token=abc', '/verify-email?token=abc', '/pages/common.js']) {
      const response = await server.app.inject({ url })
      expect(response.statusCode, url).toBe(200)
      expect(response.headers['content-security-policy'], url).toBe(PAGE_CSP)
      expect(response.headers['x-frame-options']).toBe('DENY')
      expect(response.headers['referrer-policy']).toBe('no-referrer')
    }
  })

  it('give way to the docs page’s CSP, which still renders', async () => {
    const docs = await server.app.inject({ url: '/docs' })
    expect(docs.statusCode).toBe(200)
    expect(docs.headers['content-type']).toContain('text/html')
    expect(docs.body).toContain('swagger-ui')
    const csp = String(docs.headers['content-security-policy'])
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("style-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain("default-src 'none'")
    const script = await server.app.inject({ url: '/docs/static/swagger-initializer.js' })
    expect(script.statusCode).toBe(200)
    expect(script.headers['content-security-policy']).toBe(csp)
  })
})
