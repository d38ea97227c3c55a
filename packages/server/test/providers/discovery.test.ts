import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestServer } from '../helpers/server.js'
import { METRICS_TOKEN, sampleValue, scrape } from '../observability/scrape.js'
import {
  APP_URL,
  type LocalIdp,
  providerEnv,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
} from './provider-helpers.js'

const start = (server: TestServer) =>
  server.app.inject({
    method: 'GET',
    url: `/auth/oauth/acme/start?${new URLSearchParams({ redirectTo: APP_URL })}`,
  })

describe('the discovery cache (a real oidc-provider on 127.0.0.1)', () => {
  let idp: LocalIdp
  let server: TestServer

  beforeAll(async () => {
    idp = await startLocalIdp()
    server = await startTestServer({ ...providerEnv(idp), TESSERA_METRICS_TOKEN: METRICS_TOKEN })
    for (const login of ['dee', 'dan'])
      idp.accounts.set(login, { email: `${login}@example.com`, email_verified: true })
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
  })

  it('fetches the discovery document once for many sign-ins within the hour', async () => {
    expect((await signInWithIdp(server, 'dee')).location).toBe(APP_URL)
    expect(idp.discoveryRequests()).toBe(1)
    server.clock.advance(3599)
    expect((await signInWithIdp(server, 'dan')).location).toBe(APP_URL)
    expect(idp.discoveryRequests()).toBe(1)
  })

  it('refreshes after an hour; a provider whose discovery fails then still signs in from the last good document, asked again after a minute', async () => {
    idp.failDiscovery = true
    try {
      server.clock.advance(2)
      expect((await signInWithIdp(server, 'dee')).location).toBe(APP_URL)
      expect(idp.discoveryRequests()).toBe(2)
      server.clock.advance(59)
      expect((await start(server)).statusCode).toBe(302)
      expect(idp.discoveryRequests()).toBe(2)
      server.clock.advance(2)
      expect((await start(server)).statusCode).toBe(302)
      expect(idp.discoveryRequests()).toBe(3)
    } finally {
      idp.failDiscovery = false
    }
    server.clock.advance(61)
    expect((await signInWithIdp(server, 'dan')).location).toBe(APP_URL)
    expect(idp.discoveryRequests()).toBe(4)
    server.clock.advance(3599)
    expect((await start(server)).statusCode).toBe(302)
    expect(idp.discoveryRequests()).toBe(4)
  })

  it('counts the requests to the provider by endpoint, the failed discoveries among them', async () => {
    const text = await scrape(server.app)
    const value = (name: string, endpoint: string) => sampleValue(text, name, { provider: 'acme', endpoint })
    expect(value('tessera_provider_requests_total', 'discovery')).toBe(4)
    expect(value('tessera_provider_request_failures_total', 'discovery')).toBe(2)
    expect(value('tessera_provider_requests_total', 'token')).toBe(4)
    expect(value('tessera_provider_request_failures_total', 'token')).toBe(0)
    expect(value('tessera_provider_requests_total', 'jwks')).toBeGreaterThanOrEqual(1)
    expect(
      sampleValue(text, 'tessera_provider_sign_ins_total', { provider: 'acme', outcome: 'succeeded' }),
    ).toBe(4)
  })

  it('refuses a provider email that is not an address, or too long, as PROVIDER_EMAIL_MISSING', async () => {
    for (const email of [
      'not-an-email',
      'two@@example.com',
      `${'a'.repeat(64)}@${'b'.repeat(190)}.example`,
    ]) {
      idp.accounts.set('odd', { email, email_verified: true })
      const { location } = await signInWithIdp(server, 'odd')
      expect(location, email).toBe(`${APP_URL}#error=PROVIDER_EMAIL_MISSING`)
    }
  })
})

describe('a provider whose discovery fails with nothing cached', () => {
  let idp: LocalIdp
  let server: TestServer

  beforeAll(async () => {
    idp = await startLocalIdp()
    idp.failDiscovery = true
    server = await startTestServer(providerEnv(idp))
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
  })

  it('answers 502 PROVIDER_UNAVAILABLE, asks again at the next sign-in, and works once the provider is back', async () => {
    for (const attempt of [1, 2]) {
      const response = await start(server)
      expect(response.statusCode).toBe(502)
      expect(response.json()).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
      expect(idp.discoveryRequests()).toBe(attempt)
    }
    idp.failDiscovery = false
    expect((await start(server)).statusCode).toBe(302)
  })
})
