import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  logoutWith,
  PASSWORD,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'
import { METRICS_TOKEN, samples, sampleValue, scrape } from './scrape.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_METRICS_TOKEN: METRICS_TOKEN })
})
afterAll(() => server.close())

const login = (email: string, password: string) =>
  server.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password, tokenDelivery: 'body' },
  })

describe('GET /metrics access', () => {
  it('is 404 NOT_FOUND, and absent from the OpenAPI document, when no metrics token is configured', async () => {
    const plain = await startTestServer()
    try {
      const response = await plain.app.inject({ url: '/metrics', headers: bearer(METRICS_TOKEN) })
      expect(response.statusCode).toBe(404)
      expect(response.headers['content-type']).toContain('application/problem+json')
      expect(response.json()).toMatchObject({ code: 'NOT_FOUND' })
      const openapi = await plain.app.inject({ url: '/openapi.json' })
      expect(Object.keys(openapi.json<{ paths: object }>().paths)).not.toContain('/metrics')
    } finally {
      await plain.close()
    }
  })

  it('is 401 TOKEN_MISSING with a Bearer challenge without a token', async () => {
    const response = await server.app.inject({ url: '/metrics' })
    expect(response.statusCode).toBe(401)
    expect(response.json()).toMatchObject({ code: 'TOKEN_MISSING' })
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="tessera"/)
  })

  it('is 401 TOKEN_INVALID for a wrong token, a prefix of the right one, or another scheme', async () => {
    for (const authorization of [
      'Bearer wrong-token',
      `Bearer ${METRICS_TOKEN.slice(0, -1)}`,
      `Bearer ${METRICS_TOKEN}x`,
    ]) {
      const response = await server.app.inject({ url: '/metrics', headers: { authorization } })
      expect(response.statusCode, authorization).toBe(401)
      expect(response.json()).toMatchObject({ code: 'TOKEN_INVALID' })
      expect(response.headers['www-authenticate']).toContain('error="invalid_token"')
    }
    const basic = await server.app.inject({ url: '/metrics', headers: { authorization: 'Basic YTpi' } })
    expect(basic.json()).toMatchObject({ code: 'TOKEN_MISSING' })
  })

  it('answers the Prometheus text format with the right token, uncached', async () => {
    const response = await server.app.inject({ url: '/metrics', headers: bearer(METRICS_TOKEN) })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(response.headers['cache-control']).toBe('no-store')
    const text = response.body
    for (const name of [
      'tessera_auth_events_total',
      'tessera_http_requests_total',
      'tessera_http_request_duration_seconds',
      'tessera_active_sessions',
      'tessera_password_hash_in_flight',
      'tessera_audit_write_failures_total',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `)
    }
    // every event type is there from the start, so rate() sees its first occurrence
    expect(sampleValue(text, 'tessera_auth_events_total', { type: 'refresh_reuse_detected' })).toBe(0)
  })
})

describe('auth event counters', () => {
  it('count failed and successful logins', async () => {
    const user = await registerUser(server.app)
    const before = await scrape(server.app)
    expect((await login(user.email, 'not the password 123')).statusCode).toBe(401)
    expect((await login(uniqueEmail('nobody'), PASSWORD)).statusCode).toBe(401)
    expect((await login(user.email, PASSWORD)).statusCode).toBe(200)
    const after = await scrape(server.app)
    const delta = (type: string) =>
      (sampleValue(after, 'tessera_auth_events_total', { type }) ?? 0) -
      (sampleValue(before, 'tessera_auth_events_total', { type }) ?? 0)
    expect(delta('login_failed')).toBe(2)
    expect(delta('login_succeeded')).toBe(1)
  })

  it('count refreshes, which the audit table leaves out', async () => {
    const user = await registerUser(server.app)
    const before =
      sampleValue(await scrape(server.app), 'tessera_auth_events_total', { type: 'refresh' }) ?? 0
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refreshToken: user.refreshToken },
    })
    expect(response.statusCode).toBe(200)
    expect(sampleValue(await scrape(server.app), 'tessera_auth_events_total', { type: 'refresh' })).toBe(
      before + 1,
    )
  })
})

describe('HTTP request metrics', () => {
  it('label requests by route pattern, never by the raw URL', async () => {
    const user = await registerUser(server.app)
    const sessionId = randomUUID()
    const revoke = await server.app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${sessionId}`,
      headers: bearer(user.accessToken),
    })
    expect(revoke.statusCode).toBe(404)
    const text = await scrape(server.app)
    expect(text).not.toContain(sessionId)
    const labels = { route: '/auth/sessions/:id', method: 'DELETE', status: '404' }
    expect(sampleValue(text, 'tessera_http_requests_total', labels)).toBe(1)
    expect(
      sampleValue(text, 'tessera_http_request_duration_seconds_count', {
        route: '/auth/sessions/:id',
        method: 'DELETE',
      }),
    ).toBe(1)
    expect(
      sampleValue(text, 'tessera_http_request_duration_seconds_bucket', {
        route: '/auth/sessions/:id',
        method: 'DELETE',
        le: '+Inf',
      }),
    ).toBe(1)
    expect(
      sampleValue(text, 'tessera_http_requests_total', {
        route: '/auth/register',
        method: 'POST',
        status: '201',
      }),
    ).toBeGreaterThanOrEqual(1)
  })

  it('count requests that matched no route as "unmatched"', async () => {
    const path = `/no/such/path/${randomUUID()}`
    expect((await server.app.inject({ url: path })).statusCode).toBe(404)
    const text = await scrape(server.app)
    expect(text).not.toContain(path)
    expect(
      sampleValue(text, 'tessera_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }),
    ).toBeGreaterThanOrEqual(1)
  })
})

describe('tessera_active_sessions', () => {
  const activeSessions = async () => sampleValue(await scrape(server.app), 'tessera_active_sessions') ?? NaN

  it('follows registrations and logouts, counted at most every few seconds', async () => {
    server.clock.advance(10)
    const start = await activeSessions()
    const first = await registerUser(server.app)
    await registerUser(server.app)
    // the count is cached: the standing clock has not moved
    expect(await activeSessions()).toBe(start)
    server.clock.advance(5)
    expect(await activeSessions()).toBe(start + 2)

    const logout = await logoutWith(server.app, first.refreshToken)
    expect(logout.statusCode).toBe(204)
    server.clock.advance(5)
    expect(await activeSessions()).toBe(start + 1)
  })
})

describe('tessera_password_hash_in_flight', () => {
  it('is 0 at rest, as is tessera_password_hash_queued', async () => {
    const text = await scrape(server.app)
    expect(sampleValue(text, 'tessera_password_hash_in_flight')).toBe(0)
    expect(sampleValue(text, 'tessera_password_hash_queued')).toBe(0)
  })
  // counted while hashes run and wait: test/http/hashing-queue.test.ts
})

describe('registries', () => {
  it('are per server: a second server in the process counts on its own', async () => {
    const other = await startTestServer({ TESSERA_METRICS_TOKEN: METRICS_TOKEN })
    try {
      const text = await scrape(other.app)
      expect(sampleValue(text, 'tessera_auth_events_total', { type: 'login_succeeded' })).toBe(0)
      expect(samples(text).length).toBeGreaterThan(20)
    } finally {
      await other.close()
    }
  })
})
