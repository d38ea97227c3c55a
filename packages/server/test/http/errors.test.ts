import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/http/app.js'
import { openDatabase } from '../../src/store/db.js'
import { createStores } from '../../src/store/stores.js'
import { json, PASSWORD, registerUser, startTestServer, type TestServer } from '../helpers/server.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_ALLOWED_ORIGINS: 'http://localhost:3000,https://app.example.com' })
})
afterAll(() => server.close())

const expectProblem = (
  response: { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
  code: string,
) => {
  expect(response.statusCode).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = JSON.parse(response.body)
  expect(body).toMatchObject({ type: 'about:blank', status, code })
  expect(typeof body.title).toBe('string')
  expect(typeof body.detail).toBe('string')
  expect(response.body).not.toMatch(/at \w+ \(|node_modules|select |insert /i)
}

describe('errors are problem+json with the API.md codes', () => {
  it('unknown route: 404 NOT_FOUND', async () => {
    expectProblem(await server.app.inject({ url: '/nope' }), 404, 'NOT_FOUND')
    expectProblem(await server.app.inject({ method: 'PUT', url: '/auth/nope' }), 404, 'NOT_FOUND')
  })

  it('an OPTIONS that is not a CORS preflight: 204 with Allow, or 404 for an unknown path', async () => {
    const known = await server.app.inject({
      method: 'OPTIONS',
      url: '/auth/sessions/7d2c3c1e-4b5a-4c6d-8e9f-0a1b2c3d4e5f',
    })
    expect(known.statusCode).toBe(204)
    expect(known.headers.allow).toBe('DELETE, OPTIONS')
    expect(known.headers['content-security-policy']).toContain("default-src 'none'")
    expectProblem(await server.app.inject({ method: 'OPTIONS', url: '/nope' }), 404, 'NOT_FOUND')
    // a preflight is still the CORS plugin's
    const preflight = await server.app.inject({
      method: 'OPTIONS',
      url: '/auth/refresh',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
    })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('http://localhost:3000')
  })

  it('a known path with another method: 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const put = await server.app.inject({ method: 'PUT', url: '/auth/login' })
    expectProblem(put, 405, 'METHOD_NOT_ALLOWED')
    expect(put.headers.allow).toBe('POST')
    const trace = await server.app.inject({ method: 'TRACE', url: '/healthz' })
    expectProblem(trace, 405, 'METHOD_NOT_ALLOWED')
    expect(trace.headers.allow).toBe('GET, HEAD')
    expect(trace.headers['content-security-policy']).toContain("default-src 'none'")
    const session = await server.app.inject({
      method: 'GET',
      url: '/auth/sessions/7d2c3c1e-4b5a-4c6d-8e9f-0a1b2c3d4e5f',
    })
    expectProblem(session, 405, 'METHOD_NOT_ALLOWED')
    expect(session.headers.allow).toBe('DELETE')
  })

  it('malformed JSON: 400 MALFORMED_REQUEST', async () => {
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": "a@b.c", "password": ',
    })
    expectProblem(response, 400, 'MALFORMED_REQUEST')
  })

  it('empty JSON body: 400 MALFORMED_REQUEST', async () => {
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '',
    })
    expectProblem(response, 400, 'MALFORMED_REQUEST')
  })

  it('wrong content type: 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await server.app.inject({
        method: 'POST',
        url: '/auth/register',
        headers: { 'content-type': contentType },
        payload: 'email=a@b.c&password=x',
      })
      expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE')
    }
  })

  it('oversized body: 413 PAYLOAD_TOO_LARGE, over 16 KiB', async () => {
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'big@example.com', password: PASSWORD, name: 'x'.repeat(17 * 1024) },
    })
    expectProblem(response, 413, 'PAYLOAD_TOO_LARGE')
  })

  it('a JSON array or string where an object is expected: 400 VALIDATION_FAILED', async () => {
    for (const payload of ['[]', '"x"', 'null', '42']) {
      const response = await server.app.inject({
        method: 'POST',
        url: '/auth/login',
        headers: { 'content-type': 'application/json' },
        payload,
      })
      expectProblem(response, 400, 'VALIDATION_FAILED')
    }
  })

  it('sends no framework fingerprint headers', async () => {
    const responses = [
      await server.app.inject({ url: '/healthz' }),
      await server.app.inject({ url: '/nope' }),
      await server.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'a@b.co', password: 'x' },
      }),
    ]
    for (const response of responses) {
      expect(response.headers['x-powered-by']).toBeUndefined()
      expect(response.headers.server).toBeUndefined()
    }
  })
})

describe('CORS', () => {
  it('grants a configured origin with credentials', async () => {
    const response = await server.app.inject({
      method: 'OPTIONS',
      url: '/auth/refresh',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    expect(response.statusCode).toBe(204)
    expect(response.headers['access-control-allow-origin']).toBe('https://app.example.com')
    expect(response.headers['access-control-allow-credentials']).toBe('true')
    expect(String(response.headers['access-control-allow-methods'])).toContain('POST')
  })

  it('grants nothing to any other origin', async () => {
    const preflight = await server.app.inject({
      method: 'OPTIONS',
      url: '/auth/refresh',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    })
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined()
    const simple = await server.app.inject({
      url: '/.well-known/jwks.json',
      headers: { origin: 'https://evil.example' },
    })
    expect(simple.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('lets an allowed origin use the cookie endpoints', async () => {
    const user = await registerUser(server.app)
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { origin: 'https://app.example.com' },
      cookies: { tessera_refresh: user.refreshToken },
      payload: {},
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['access-control-allow-origin']).toBe('https://app.example.com')
  })
})

describe('discovery, health and docs', () => {
  it('serves the discovery document with issuer and jwks_uri', async () => {
    const response = await server.app.inject({ url: '/.well-known/openid-configuration' })
    expect(response.statusCode).toBe(200)
    expect(json(response)).toMatchObject({
      issuer: 'http://localhost:3000',
      jwks_uri: 'http://localhost:3000/.well-known/jwks.json',
    })
  })

  it('answers /healthz and /readyz', async () => {
    expect(json(await server.app.inject({ url: '/healthz' }))).toEqual({ status: 'ok' })
    const ready = await server.app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(json(ready)).toEqual({ status: 'ok', database: 'up' })
  })

  it('serves an OpenAPI 3 document naming every endpoint, and the docs page', async () => {
    const response = await server.app.inject({ url: '/openapi.json' })
    expect(response.statusCode).toBe(200)
    const doc = json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(response)
    expect(doc.openapi).toMatch(/^3\./)
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    )
    expect(operations).toEqual(
      expect.arrayContaining([
        'POST /auth/register',
        'POST /auth/login',
        'POST /auth/refresh',
        'POST /auth/logout',
        'POST /auth/logout-all',
        'GET /auth/me',
        'GET /auth/sessions',
        'DELETE /auth/sessions/{id}',
        'GET /.well-known/jwks.json',
        'GET /.well-known/openid-configuration',
        'GET /healthz',
        'GET /readyz',
      ]),
    )
    const docs = await server.app.inject({ url: '/docs/' })
    expect(docs.statusCode).toBe(200)
    expect(docs.headers['content-type']).toContain('text/html')
  })
})

describe('database unreachable', () => {
  it('answers 503 SERVICE_UNAVAILABLE with Retry-After, not 500', async () => {
    // nothing listens on port 1: every query fails to connect
    const dead = await openDatabase(
      { kind: 'postgres', url: 'postgres://tessera@127.0.0.1:1/none' },
      { timeoutMs: 500 },
    )
    const app = await buildApp({
      ...server.deps,
      stores: createStores(dead.db, { accessTokenTtl: 900 }),
      ping: dead.ping,
      logger: false,
    })
    try {
      const login = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'a@example.com', password: PASSWORD },
      })
      expectProblem(login, 503, 'SERVICE_UNAVAILABLE')
      expect(login.headers['retry-after']).toBe('5')
      const ready = await app.inject({ url: '/readyz' })
      expectProblem(ready, 503, 'SERVICE_UNAVAILABLE')
      expect(ready.headers['retry-after']).toBeDefined()
      const register = await app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { email: 'b@example.com', password: PASSWORD },
      })
      expectProblem(register, 503, 'SERVICE_UNAVAILABLE')
    } finally {
      await app.close()
      await dead.close()
    }
  })
})
