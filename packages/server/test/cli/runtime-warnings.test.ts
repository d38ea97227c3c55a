import { afterEach, describe, expect, it } from 'vitest'
import {
  cleanupProcesses,
  login,
  preparedDataDir,
  register,
  requestJson,
  startServerProcess,
  type TokenResponse,
} from '../helpers/process.js'

/*
 * Node prints a runtime deprecation once per process, to stderr, and a later Node turns it into an
 * error. A fresh `tessera serve` that signs and verifies access tokens (RS256, the default) and
 * rotates a refresh token must print none: .ci/run runs this file on the current LTS too (Node 24),
 * where such deprecations show first.
 */

afterEach(() => cleanupProcesses())

const PASSWORD = 'correct horse battery staple'

describe('tessera serve on this Node', () => {
  it('prints no warning while it registers, logs in, refreshes, serves /auth/me and logs out', async () => {
    const server = await startServerProcess({ TESSERA_DATA_DIR: await preparedDataDir() })
    const registered = await register(server.url, 'runtime@example.com', PASSWORD)
    expect(registered.status).toBe(201)
    const loggedIn = await login(server.url, 'runtime@example.com', PASSWORD)
    expect(loggedIn.status).toBe(200)
    const refreshed = await requestJson<TokenResponse>(`${server.url}/auth/refresh`, {
      body: { refreshToken: loggedIn.body.refreshToken, tokenDelivery: 'body' },
    })
    expect(refreshed.status).toBe(200)
    const me = await requestJson(`${server.url}/auth/me`, { token: refreshed.body.accessToken })
    expect(me.status).toBe(200)
    const loggedOut = await requestJson(`${server.url}/auth/logout`, {
      body: { refreshToken: refreshed.body.refreshToken },
    })
    expect(loggedOut.status).toBe(204)
    const stopped = await server.stop()
    expect(stopped.code).toBe(0)
    // "(node:1234) [DEP0204] DeprecationWarning: …", "ExperimentalWarning", …
    expect(server.stderr()).not.toMatch(/Warning/)
    expect(server.stderr()).toBe('')
  })
})
