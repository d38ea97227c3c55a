import { exportJWK, generateKeyPair } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestServer } from '../helpers/server.js'
import {
  APP_URL,
  type LocalIdp,
  providerEnv,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
} from './provider-helpers.js'

describe("the ID token's signature (a real oidc-provider on 127.0.0.1)", () => {
  let idp: LocalIdp
  let server: TestServer

  beforeAll(async () => {
    idp = await startLocalIdp()
    server = await startTestServer(providerEnv(idp))
    idp.accounts.set('sig', { email: 'sig@example.com', email_verified: true })
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
  })

  it('is checked against the provider keys: a token whose key id is published with another key is refused', async () => {
    const published = (await (await fetch(`${idp.issuer}/jwks`)).json()) as {
      keys: Record<string, unknown>[]
    }
    const { publicKey } = await generateKeyPair('RS256', { extractable: true })
    const { n, e } = await exportJWK(publicKey)
    // the same key ids, other RSA keys: every claim of the token is right, only its signature is not
    idp.publishedKeys = {
      keys: published.keys.filter((key) => key.kty === 'RSA').map((key) => ({ ...key, n, e })),
    }
    expect(idp.publishedKeys.keys.length).toBeGreaterThan(0)
    const { location } = await signInWithIdp(server, 'sig')
    expect(location).toBe(`${APP_URL}#error=PROVIDER_SIGN_IN_FAILED`)
  })
})
