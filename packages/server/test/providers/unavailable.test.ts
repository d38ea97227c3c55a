import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestServer } from '../helpers/server.js'
import { APP_URL, CLIENT_ID, CLIENT_SECRET, PUBLIC_URL, startTestServer } from './provider-helpers.js'

/** A loopback port nothing listens on: taken, then given back. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('a provider that cannot be reached', () => {
  let server: TestServer

  beforeAll(async () => {
    server = await startTestServer({
      TESSERA_PUBLIC_URL: PUBLIC_URL,
      TESSERA_OAUTH_PROVIDERS: 'down',
      TESSERA_OAUTH_DOWN_ISSUER: `http://127.0.0.1:${await closedPort()}`,
      TESSERA_OAUTH_DOWN_CLIENT_ID: CLIENT_ID,
      TESSERA_OAUTH_DOWN_CLIENT_SECRET: CLIENT_SECRET,
      TESSERA_OAUTH_REDIRECTS: 'http://localhost:5173/',
    })
  })
  afterAll(async () => {
    await server?.close()
  })

  it('answers 502 PROVIDER_UNAVAILABLE at the start, never a 500, and sets no state', async () => {
    const response = await server.app.inject({
      method: 'GET',
      url: `/auth/oauth/down/start?${new URLSearchParams({ redirectTo: APP_URL })}`,
    })
    expect(response.statusCode).toBe(502)
    expect(response.json()).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    expect(response.headers['set-cookie']).toBeUndefined()
  })
})
