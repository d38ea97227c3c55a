import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revokeServiceClient } from '../../src/flows/service-clients.js'
import {
  json,
  logoutWith,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
} from '../helpers/server.js'
import { basic, expectNoStore, newClient, postForm, serviceToken } from './oauth-helpers.js'

let server: TestServer
let introspector: { id: string; secret: string }
beforeAll(async () => {
  server = await startTestServer()
  introspector = await newClient(server, 'introspect', 'gateway')
})
afterAll(() => server.close())

type Introspection = Record<string, unknown> & { active: boolean }

async function introspect(token: string, extra: Record<string, string> = {}): Promise<Introspection> {
  const response = await postForm(
    server.app,
    '/oauth/introspect',
    { token, ...extra },
    { authorization: basic(introspector.id, introspector.secret) },
  )
  expect(response.statusCode, response.body).toBe(200)
  expectNoStore(response)
  return json<Introspection>(response)
}

const INACTIVE = { active: false }

describe('POST /oauth/introspect', () => {
  it("describes a live user's access token", async () => {
    const user = await registerUser(server.app)
    const claims = decodeJwt(user.accessToken)
    expect(await introspect(user.accessToken, { token_type_hint: 'access_token' })).toEqual({
      active: true,
      sub: user.userId,
      sid: claims.sid,
      roles: ['user'],
      exp: claims.exp,
      iat: claims.iat,
      iss: server.config.publicUrl,
      aud: server.config.audience,
      jti: claims.jti,
      token_type: 'Bearer',
    })
  })

  it("describes a service's token, and calls it inactive once the client is revoked", async () => {
    const service = await newClient(server, 'orders:read', 'orders-api')
    const token = await serviceToken(server.app, service)
    const claims = decodeJwt(token)
    expect(await introspect(token)).toEqual({
      active: true,
      sub: service.id,
      client_id: service.id,
      scope: 'orders:read',
      exp: claims.exp,
      iat: claims.iat,
      iss: server.config.publicUrl,
      aud: server.config.audience,
      jti: claims.jti,
      token_type: 'Bearer',
    })
    const { changed } = await revokeServiceClient(
      { stores: server.deps.stores, clock: server.clock, config: server.config },
      service.id,
    )
    expect(changed).toBe(true)
    expect(await introspect(token)).toEqual(INACTIVE)
  })

  it("is inactive for a logged-out session's token", async () => {
    const user = await registerUser(server.app)
    const loggedOut = await logoutWith(server.app, user.refreshToken)
    expect(loggedOut.statusCode).toBe(204)
    expect(await introspect(user.accessToken)).toEqual(INACTIVE)
  })

  it("is inactive for a token a change to its user made stale (roles), active for the user's next token", async () => {
    const user = await registerUser(server.app)
    await server.deps.stores.users.setRoles(user.userId, ['user', 'auditor'], server.clock.now())
    expect(await introspect(user.accessToken)).toEqual(INACTIVE)
    const refreshed = await refreshWith(server.app, user.refreshToken)
    expect(refreshed.statusCode).toBe(200)
    const next = json<{ accessToken: string }>(refreshed).accessToken
    expect(await introspect(next)).toMatchObject({ active: true, roles: ['user', 'auditor'] })
  })

  it('is inactive for an expired token, user or service', async () => {
    const user = await registerUser(server.app)
    const service = await serviceToken(server.app, await newClient(server, 'orders:read'))
    expect((await introspect(user.accessToken)).active).toBe(true)
    expect((await introspect(service)).active).toBe(true)
    server.clock.advance(Math.max(server.config.accessTokenTtl, server.config.serviceTokenTtl))
    try {
      expect(await introspect(user.accessToken)).toEqual(INACTIVE)
      expect(await introspect(service)).toEqual(INACTIVE)
    } finally {
      server.clock.advance(-Math.max(server.config.accessTokenTtl, server.config.serviceTokenTtl))
    }
  })

  it('is inactive for a forged token, garbage and a refresh token', async () => {
    const user = await registerUser(server.app)
    const attacker = await generateKeyPair('RS256')
    const forge = (token: string) =>
      new SignJWT(decodeJwt(token))
        .setProtectedHeader({ ...decodeProtectedHeader(token), alg: 'RS256' })
        .sign(attacker.privateKey)
    const service = await serviceToken(server.app, await newClient(server, 'admin'))
    for (const token of [
      await forge(user.accessToken),
      await forge(service),
      `${user.accessToken.slice(0, -4)}AAAA`,
      'garbage',
      'a.b.c',
      user.refreshToken,
      '\u00e9t\u00e9',
    ]) {
      expect(await introspect(token), token).toEqual(INACTIVE)
    }
  })

  it('refuses a client without the introspect scope with 403 insufficient_scope', async () => {
    const user = await registerUser(server.app)
    const feedOnly = await newClient(server, 'revocations:read')
    const response = await postForm(
      server.app,
      '/oauth/introspect',
      { token: user.accessToken },
      { authorization: basic(feedOnly.id, feedOnly.secret) },
    )
    expect(response.statusCode).toBe(403)
    expectNoStore(response)
    expect(json(response).error).toBe('insufficient_scope')
  })

  it('answers 401 invalid_client with a Basic challenge without credentials, with a wrong secret or a revoked client', async () => {
    const user = await registerUser(server.app)
    const revoked = await newClient(server, 'introspect')
    await revokeServiceClient(
      { stores: server.deps.stores, clock: server.clock, config: server.config },
      revoked.id,
    )
    const attempts: Record<string, string>[] = [
      {},
      { authorization: basic(introspector.id, 'wrong') },
      { authorization: basic(revoked.id, revoked.secret) },
      { authorization: `Bearer ${user.accessToken}` },
    ]
    for (const headers of attempts) {
      const response = await postForm(server.app, '/oauth/introspect', { token: user.accessToken }, headers)
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Basic realm="tessera"')
      expectNoStore(response)
      expect(json(response).error).toBe('invalid_client')
    }
  })

  it('refuses a missing or repeated token, and a JSON body, as invalid_request', async () => {
    const auth = { authorization: basic(introspector.id, introspector.secret) }
    const missing = await postForm(server.app, '/oauth/introspect', {}, auth)
    const repeated = await postForm(
      server.app,
      '/oauth/introspect',
      [
        ['token', 'a'],
        ['token', 'b'],
      ],
      auth,
    )
    const asJson = await server.app.inject({
      method: 'POST',
      url: '/oauth/introspect',
      headers: auth,
      payload: { token: 'a' },
    })
    for (const response of [missing, repeated, asJson]) {
      expect(response.statusCode).toBe(400)
      expectNoStore(response)
      expect(json(response).error).toBe('invalid_request')
    }
  })
})
