import { createHash } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochSeconds } from '../../src/clock.js'
import { revokeServiceClient } from '../../src/flows/service-clients.js'
import { bearer, json, startTestServer, type TestServer } from '../helpers/server.js'
import { basic, expectNoStore, newClient, postForm, serviceToken } from './oauth-helpers.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_SERVICE_TOKEN_TTL: '10m' })
})
afterAll(() => server.close())

type TokenAnswer = { access_token: string; token_type: string; expires_in: number; scope: string }
const GRANT = { grant_type: 'client_credentials' }

/** An RFC 6749 error answer: its status, code, the no-store headers, and nothing else in the body. */
function expectOAuthError(
  response: Awaited<ReturnType<typeof postForm>>,
  status: number,
  error: string,
): void {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  expectNoStore(response)
  const body = json(response)
  expect(body.error).toBe(error)
  expect(typeof body.error_description).toBe('string')
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description'])
  if (status === 401) expect(response.headers['www-authenticate']).toBe('Basic realm="tessera"')
}

describe('POST /oauth/token (client credentials)', () => {
  it('issues a service token through Basic: the user token header, sub = client_id, scope, no user claims', async () => {
    const client = await newClient(server, 'introspect revocations:read')
    const response = await postForm(server.app, '/oauth/token', GRANT, {
      authorization: basic(client.id, client.secret),
    })
    expect(response.statusCode).toBe(200)
    expectNoStore(response)
    const body = json<TokenAnswer>(response)
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 600,
      scope: 'introspect revocations:read',
    })
    const header = decodeProtectedHeader(body.access_token)
    const signing = server.deps.keyRing.signingKey()
    expect(header).toEqual({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt' })
    const claims = decodeJwt(body.access_token)
    const now = epochSeconds(server.clock.now())
    expect(claims).toEqual({
      iss: server.config.publicUrl,
      aud: server.config.audience,
      sub: client.id,
      client_id: client.id,
      scope: 'introspect revocations:read',
      jti: expect.any(String),
      iat: now,
      exp: now + 600,
    })
  })

  it('takes the client_id and client_secret form fields instead of Basic', async () => {
    const client = await newClient(server, 'introspect')
    const response = await postForm(server.app, '/oauth/token', {
      ...GRANT,
      client_id: client.id,
      client_secret: client.secret,
    })
    expect(response.statusCode).toBe(200)
    expect(decodeJwt(json<TokenAnswer>(response).access_token).sub).toBe(client.id)
  })

  it('grants a subset of the scopes when asked, and refuses a scope the client lacks as invalid_scope', async () => {
    const client = await newClient(server, 'introspect orders:read orders:write')
    const subset = await serviceToken(server.app, client, 'orders:read  introspect')
    expect(decodeJwt(subset).scope).toBe('orders:read introspect')

    const more = await postForm(
      server.app,
      '/oauth/token',
      { ...GRANT, scope: 'orders:read admin' },
      { authorization: basic(client.id, client.secret) },
    )
    expectOAuthError(more, 400, 'invalid_scope')
    const malformed = await postForm(
      server.app,
      '/oauth/token',
      { ...GRANT, scope: 'orders"read' },
      { authorization: basic(client.id, client.secret) },
    )
    expectOAuthError(malformed, 400, 'invalid_scope')
    // an empty parameter is an omitted one (RFC 6749 §3.2): every scope of the client
    const empty = await serviceToken(server.app, client, '')
    expect(decodeJwt(empty).scope).toBe('introspect orders:read orders:write')
  })

  it('refuses another grant type as unsupported_grant_type, and no grant type as invalid_request', async () => {
    const client = await newClient(server, 'introspect')
    const auth = { authorization: basic(client.id, client.secret) }
    expectOAuthError(
      await postForm(
        server.app,
        '/oauth/token',
        { grant_type: 'password', username: 'a', password: 'b' },
        auth,
      ),
      400,
      'unsupported_grant_type',
    )
    expectOAuthError(await postForm(server.app, '/oauth/token', {}, auth), 400, 'invalid_request')
  })

  it('answers 401 invalid_client with a Basic challenge: no credentials, wrong secret, unknown id, malformed header', async () => {
    const client = await newClient(server, 'introspect')
    const attempts: Record<string, string>[] = [
      {},
      { authorization: basic(client.id, `${client.secret}x`) },
      { authorization: basic('svc_AAAAAAAAAAAAAAAAAAAAAA', client.secret) },
      { authorization: basic('not-a-client\u0000', client.secret) },
      { authorization: 'Basic !!!' },
      { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` },
      { authorization: `Basic ${Buffer.from(`${client.id}:%zz`).toString('base64')}` },
    ]
    for (const headers of attempts) {
      expectOAuthError(await postForm(server.app, '/oauth/token', GRANT, headers), 401, 'invalid_client')
    }
    // a form id without its secret is no authentication either
    expectOAuthError(
      await postForm(server.app, '/oauth/token', { ...GRANT, client_id: client.id }),
      401,
      'invalid_client',
    )
  })

  it('refuses Basic and form credentials together as invalid_request', async () => {
    const client = await newClient(server, 'introspect')
    const response = await postForm(
      server.app,
      '/oauth/token',
      { ...GRANT, client_id: client.id, client_secret: client.secret },
      { authorization: basic(client.id, client.secret) },
    )
    expectOAuthError(response, 400, 'invalid_request')
  })

  it('refuses a repeated parameter as invalid_request, and ignores an unknown one', async () => {
    const client = await newClient(server, 'introspect')
    const auth = { authorization: basic(client.id, client.secret) }
    const repeated = await postForm(
      server.app,
      '/oauth/token',
      [
        ['grant_type', 'client_credentials'],
        ['grant_type', 'client_credentials'],
      ],
      auth,
    )
    expectOAuthError(repeated, 400, 'invalid_request')
    expect(json(repeated).error_description).toContain('grant_type')
    const unknown = await postForm(server.app, '/oauth/token', { ...GRANT, audience: 'elsewhere' }, auth)
    expect(unknown.statusCode).toBe(200)
  })

  it('takes form bodies only: JSON is invalid_request here, and the JSON routes still refuse forms with 415', async () => {
    const client = await newClient(server, 'introspect')
    const asJson = await server.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: basic(client.id, client.secret) },
      payload: GRANT,
    })
    expectOAuthError(asJson, 400, 'invalid_request')
    const formAtLogin = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'email=a%40example.com&password=x',
    })
    expect(formAtLogin.statusCode).toBe(415)
    expect(formAtLogin.headers['content-type']).toMatch(/^application\/problem\+json/)
  })

  it('refuses a revoked client as invalid_client', async () => {
    const client = await newClient(server, 'introspect')
    await serviceToken(server.app, client)
    await revokeServiceClient(
      { stores: server.deps.stores, clock: server.clock, config: server.config },
      client.id,
    )
    expectOAuthError(
      await postForm(server.app, '/oauth/token', GRANT, { authorization: basic(client.id, client.secret) }),
      401,
      'invalid_client',
    )
  })

  it("is refused at the users' Bearer routes", async () => {
    const client = await newClient(server, 'introspect admin')
    const token = await serviceToken(server.app, client)
    for (const url of ['/auth/me', '/auth/sessions']) {
      const response = await server.app.inject({ url, headers: bearer(token) })
      expect(response.statusCode).toBe(401)
      expect(json(response).code).toBe('TOKEN_INVALID')
    }
  })

  it('stores only the SHA-256 of the secret', async () => {
    const client = await newClient(server, 'introspect')
    const stored = await server.deps.stores.serviceClients.findWithSecretHash(client.id)
    expect(Buffer.from(stored?.secretHash ?? [])).toEqual(createHash('sha256').update(client.secret).digest())
    expect(Buffer.from(stored?.secretHash ?? []).toString()).not.toContain(client.secret)
    expect(client.secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(client.id).toMatch(/^svc_[A-Za-z0-9_-]{22}$/)
  })
})

describe('discovery', () => {
  it('names the token, introspection and revocation-feed endpoints', async () => {
    const response = await server.app.inject({ url: '/.well-known/openid-configuration' })
    const base = server.config.publicUrl
    expect(json(response)).toMatchObject({
      issuer: base,
      token_endpoint: `${base}/oauth/token`,
      introspection_endpoint: `${base}/oauth/introspect`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      tessera_revocation_events_endpoint: `${base}/auth/revocations`,
    })
  })

  it('lists both endpoints, form-encoded, in the OpenAPI document', async () => {
    const document = json<{ paths: Record<string, { post?: { requestBody?: { content: object } } }> }>(
      await server.app.inject({ url: '/openapi.json' }),
    )
    for (const path of ['/oauth/token', '/oauth/introspect']) {
      expect(Object.keys(document.paths[path]?.post?.requestBody?.content ?? {})).toEqual([
        'application/x-www-form-urlencoded',
      ])
    }
  })
})

describe('the per-client limit', () => {
  it('answers 429 temporarily_unavailable with Retry-After past TESSERA_LIMIT_OAUTH, counting each client apart', async () => {
    const limited = await startTestServer({ TESSERA_RATE_LIMIT: 'on', TESSERA_LIMIT_OAUTH: '2/1m' })
    try {
      const busy = await newClient(limited, 'introspect')
      const calm = await newClient(limited, 'introspect')
      const ask = (client: { id: string; secret: string }) =>
        postForm(limited.app, '/oauth/token', GRANT, { authorization: basic(client.id, client.secret) })
      expect((await ask(busy)).statusCode).toBe(200)
      const second = await ask(busy)
      expect(second.statusCode).toBe(200)
      expect(second.headers['ratelimit-remaining']).toBe('0')
      const refused = await ask(busy)
      expectOAuthError(refused, 429, 'temporarily_unavailable')
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
      expect((await ask(calm)).statusCode).toBe(200)
      // introspection counts on its own
      const introspected = await postForm(
        limited.app,
        '/oauth/introspect',
        { token: 'garbage' },
        { authorization: basic(busy.id, busy.secret) },
      )
      expect(json(introspected)).toEqual({ active: false })
    } finally {
      await limited.close()
    }
  })
})
