import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExpressAuth, requireScope as expressRequireScope } from '../src/express.js'
import { createFastifyAuth, requireScope as fastifyRequireScope } from '../src/fastify.js'
import type { VerifierOptions } from '../src/index.js'
import { bearer } from './helpers/apps.js'
import { expectProblem } from './helpers/expect.js'
import { SERVICE_FRAMEWORKS, type ServiceApp } from './helpers/service-apps.js'
import { accessClaims, epoch, sign } from './helpers/tokens.js'

const ISSUER = 'https://auth.example.com'
let privateKey: CryptoKey
let publicJwk: JWK
let options: VerifierOptions

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }
  options = { issuer: ISSUER, audience: 'tessera', jwks: { keys: [publicJwk] } }
})

const signed = (claims: JWTPayload) => sign(claims, { alg: 'RS256', kid: 'k1', typ: 'at+jwt' }, privateKey)

/** A client-credentials token as the contract has it: sub = client_id, a scope, no sid, email or roles. */
function serviceToken(scope: string, clientId = 'svc_billing') {
  const iat = epoch()
  return signed({
    iss: ISSUER,
    aud: 'tessera',
    sub: clientId,
    client_id: clientId,
    scope,
    iat,
    exp: iat + 300,
    jti: crypto.randomUUID(),
  })
}

describe.each(SERVICE_FRAMEWORKS)('$framework: service tokens and scopes', ({ start }) => {
  let app: ServiceApp
  beforeAll(async () => {
    app = await start(options)
  })
  afterAll(async () => {
    await app?.close()
  })

  it('refuses a service token with 403 FORBIDDEN where the route takes users only (the default)', async () => {
    const token = await serviceToken('orders:read')
    expectProblem(await app.get('/me', bearer(token)), 'FORBIDDEN')
    expectProblem(await app.get('/maybe', bearer(token)), 'FORBIDDEN')
    expectProblem(await app.get('/users-only', bearer(token)), 'FORBIDDEN')
    const user = await app.get('/me', bearer(await signed(accessClaims(ISSUER))))
    expect(user.status, user.text).toBe(200)
  })

  it('accepts a service token where the route accepts services, with its client_id and scope', async () => {
    const result = await app.get('/either', bearer(await serviceToken('orders:read orders:write')))
    expect(result.status, result.text).toBe(200)
    expect(result.body?.auth).toMatchObject({
      sub: 'svc_billing',
      client_id: 'svc_billing',
      scope: 'orders:read orders:write',
      roles: [],
    })
    expect(result.body?.auth).not.toHaveProperty('sid')
  })

  it('still accepts user tokens where the route accepts services', async () => {
    const result = await app.get('/either', bearer(await signed(accessClaims(ISSUER))))
    expect(result.status, result.text).toBe(200)
  })

  it('lets a service with the required scope through', async () => {
    for (const path of ['/orders', '/standalone']) {
      const result = await app.get(path, bearer(await serviceToken('orders:read')))
      expect(result.status, `${path}: ${result.text}`).toBe(200)
    }
  })

  it('answers 403 FORBIDDEN with an insufficient_scope challenge naming the scope when one is missing', async () => {
    const token = await serviceToken('orders:write')
    expectProblem(await app.get('/orders', bearer(token)), 'FORBIDDEN', 'tessera', 'orders:read')
    expectProblem(await app.get('/standalone', bearer(token)), 'FORBIDDEN', 'tessera', 'orders:read')
    // every scope is required, and a scope is matched whole, never as a prefix
    expectProblem(
      await app.get('/orders/write', bearer(await serviceToken('orders:read orders:writer'))),
      'FORBIDDEN',
      'tessera',
      'orders:read orders:write',
    )
    const both = await app.get('/orders/write', bearer(await serviceToken('orders:write orders:read')))
    expect(both.status, both.text).toBe(200)
  })

  it('refuses a user token (no scope) on a route that requires a scope', async () => {
    const result = await app.get('/orders', bearer(await signed(accessClaims(ISSUER))))
    expectProblem(result, 'FORBIDDEN', 'tessera', 'orders:read')
  })

  it('answers 401 TOKEN_MISSING from requireScope without a prior authentication', async () => {
    expectProblem(await app.get('/scope-only', bearer(await serviceToken('orders:read'))), 'TOKEN_MISSING')
  })

  it('refuses a token whose client_id or scope is not a string', async () => {
    const iat = epoch()
    const base = { iss: ISSUER, aud: 'tessera', sub: 'svc_x', iat, exp: iat + 300 }
    expectProblem(await app.get('/either', bearer(await signed({ ...base, client_id: 7 }))), 'TOKEN_INVALID')
    expectProblem(
      await app.get('/either', bearer(await signed({ ...base, client_id: 'svc_x', scope: ['a'] }))),
      'TOKEN_INVALID',
    )
  })
})

describe('services and scopes options', () => {
  it.each(SERVICE_FRAMEWORKS)(
    '$framework: accepts service tokens on every route with services: true in the options, unless the route says false',
    async ({ start }) => {
      const app = await start({ ...options, services: true })
      try {
        const token = await serviceToken('orders:read')
        const result = await app.get('/me', bearer(token))
        expect(result.status, result.text).toBe(200)
        expect(result.body?.auth).toMatchObject({ client_id: 'svc_billing' })
        expectProblem(await app.get('/users-only', bearer(token)), 'FORBIDDEN')
      } finally {
        await app.close()
      }
    },
  )

  it.each([
    ['no scope', []],
    ['an empty scope', ['']],
    ['a scope with a space', ['orders:read orders:write']],
    ['a scope with a quote', ['orders"read']],
    ['a scope that is not a string', [7]],
  ])('requireScope throws a TypeError for %s', (_name, scopes) => {
    const express = createExpressAuth(options)
    const fastify = createFastifyAuth(options)
    for (const build of [
      () => express.requireScope(...(scopes as string[])),
      () => fastify.requireScope(...(scopes as string[])),
      () => expressRequireScope(...(scopes as string[])),
      () => fastifyRequireScope(...(scopes as string[])),
    ]) {
      expect(build).toThrow(TypeError)
      expect(build).toThrow(/requireScope needs at least one scope/)
    }
  })

  it('throws a TypeError for a services option that is not a boolean', () => {
    expect(() => createExpressAuth({ ...options, services: 'yes' as never })).toThrow(
      /services must be true or false/,
    )
    expect(() => createFastifyAuth(options).authenticateWith({ services: 1 as never })).toThrow(
      /services must be true or false/,
    )
    expect(() => createExpressAuth(options).authenticate('all' as never)).toThrow(
      /route options must be an object/,
    )
  })
})
