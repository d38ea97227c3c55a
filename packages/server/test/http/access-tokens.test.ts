import { createHmac, createPublicKey, type JsonWebKey, randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import {
  type CryptoKey,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rotateKey } from '../../src/flows/keys.js'
import type { SigningKey } from '../../src/keys/key-ring.js'
import {
  bearer,
  json,
  PASSWORD,
  type Registered,
  registerUser,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from '../helpers/server.js'

// ---------------------------------------------------------------------------------------------
// helpers

const ME = '/auth/me'
const JWKS_PATH = '/.well-known/jwks.json'
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const
const CLAIM_NAMES = [
  'acr',
  'amr',
  'aud',
  'auth_time',
  'email',
  'email_verified',
  'exp',
  'iat',
  'iss',
  'jti',
  'roles',
  'sid',
  'sub',
]
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const epoch = (date: Date): number => Math.floor(date.getTime() / 1000)

function segments(token: string): [string, string, string] {
  const [header, payload, signature] = token.split('.')
  if (header === undefined || payload === undefined || signature === undefined) throw new Error('not a JWS')
  return [header, payload, signature]
}

const me = (app: FastifyInstance, token: string) =>
  app.inject({ method: 'GET', url: ME, headers: bearer(token) })

/** A 401 problem+json with the code, a Bearer challenge, and (for a bad token) RFC 6750's error. */
function expectUnauthorized(
  response: LightMyRequestResponse,
  code: 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED',
): void {
  expect(response.statusCode, response.body).toBe(401)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json\b/)
  const body = json<{ type: string; title: string; status: number; code: string; detail: string }>(response)
  expect(body).toMatchObject({ type: 'about:blank', title: 'Unauthorized', status: 401, code })
  expect(typeof body.detail).toBe('string')
  const challenge = String(response.headers['www-authenticate'])
  expect(challenge).toMatch(/^Bearer\b/)
  if (code === 'TOKEN_MISSING') expect(challenge).not.toContain('error=')
  else expect(challenge).toContain('error="invalid_token"')
}

/** Signs `claims` under `header` with `key`, the way an attacker (or the test) chooses. */
const sign = (
  claims: JWTPayload,
  header: JWTHeaderParameters,
  key: SigningKey['key'] | Uint8Array,
): Promise<string> => new SignJWT(claims).setProtectedHeader(header).sign(key)

/** An HS256 JWS with `secret` as the HMAC key, built by hand so no library refuses the key. */
function hmacToken(header: Record<string, unknown>, claims: JWTPayload, secret: Uint8Array | string): string {
  const input = `${b64url(header)}.${b64url(claims)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** The claims of a real token, so a re-signed copy differs from a genuine one only where a test says. */
const claimsOf = (token: string): JWTPayload => ({ ...decodeJwt(token) })

async function jwksOf(app: FastifyInstance): Promise<JWK[]> {
  const response = await app.inject({ method: 'GET', url: JWKS_PATH })
  expect(response.statusCode).toBe(200)
  return json<{ keys: JWK[] }>(response).keys
}

/** Listens on an ephemeral loopback port and returns the JWKS URL a separate service would fetch. */
async function listenForJwks(server: TestServer): Promise<URL> {
  await server.app.listen({ port: 0, host: '127.0.0.1' })
  const address = server.app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return new URL(`http://127.0.0.1:${address.port}${JWKS_PATH}`)
}

async function login(
  app: FastifyInstance,
  email: string,
): Promise<{ accessToken: string; refreshToken: string }> {
  const response = await app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password: PASSWORD, tokenDelivery: 'body' },
  })
  expect(response.statusCode, response.body).toBe(200)
  return json<{ accessToken: string; refreshToken: string }>(response)
}

// ---------------------------------------------------------------------------------------------

describe('access tokens on an RS256 server (the default)', () => {
  let server: TestServer
  let user: Registered
  let signer: SigningKey
  let ourPublicJwk: JWK
  let attacker: { publicKey: CryptoKey; privateKey: CryptoKey }
  /** Every TOKEN_INVALID body must be this one, whatever check failed. */
  let invalidBody: unknown

  beforeAll(async () => {
    server = await startTestServer()
    user = await registerUser(server.app)
    signer = server.deps.keyRing.signingKey()
    const published = (await jwksOf(server.app)).find((key) => key.kid === signer.kid)
    if (!published) throw new Error('signing key missing from the JWKS')
    ourPublicJwk = published
    attacker = await generateKeyPair('RS256', { extractable: true })
    invalidBody = json(await me(server.app, 'not-a-jwt'))
  })
  afterAll(() => server.close())

  /** Expects TOKEN_REVOKED: a genuine token whose session ended. */
  async function expectRevoked(token: string): Promise<void> {
    const response = await me(server.app, token)
    expectUnauthorized(response, 'TOKEN_REVOKED')
    expect(json(response)).toMatchObject({ status: 401, code: 'TOKEN_REVOKED' })
  }

  /** Expects TOKEN_INVALID with exactly the body every other invalid token gets. */
  async function expectRefused(token: string): Promise<void> {
    const response = await me(server.app, token)
    expectUnauthorized(response, 'TOKEN_INVALID')
    expect(json(response)).toEqual(invalidBody)
  }

  /** Claims as the server would issue them now, for the live session of `user`. */
  function freshClaims(overrides: JWTPayload = {}): JWTPayload {
    const iat = epoch(server.clock.now())
    return { ...claimsOf(user.accessToken), iat, exp: iat + 900, jti: randomUUID(), ...overrides }
  }

  const ourHeader = (overrides: Partial<JWTHeaderParameters> = {}): JWTHeaderParameters => ({
    alg: signer.alg,
    kid: signer.kid,
    typ: 'at+jwt',
    ...overrides,
  })

  describe('the Authorization header', () => {
    it('accepts a freshly issued token on GET /auth/me', async () => {
      const response = await me(server.app, user.accessToken)
      expect(response.statusCode).toBe(200)
      expect(json<{ user: { id: string; email: string } }>(response).user).toMatchObject({
        id: user.userId,
        email: user.email,
      })
    })

    it('accepts the Bearer scheme in any letter case', async () => {
      const response = await server.app.inject({
        method: 'GET',
        url: ME,
        headers: { authorization: `bEARER ${user.accessToken}` },
      })
      expect(response.statusCode).toBe(200)
    })

    it('answers TOKEN_MISSING without an Authorization header', async () => {
      expectUnauthorized(await server.app.inject({ method: 'GET', url: ME }), 'TOKEN_MISSING')
    })

    it('answers TOKEN_MISSING for another scheme such as Basic', async () => {
      const response = await server.app.inject({
        method: 'GET',
        url: ME,
        headers: { authorization: 'Basic xyz' },
      })
      expectUnauthorized(response, 'TOKEN_MISSING')
    })

    it('answers TOKEN_MISSING for a token in the query string instead of the header', async () => {
      const response = await server.app.inject({
        method: 'GET',
        url: `${ME}?access_token=${user.accessToken}`,
      })
      expectUnauthorized(response, 'TOKEN_MISSING')
    })

    it('answers TOKEN_INVALID for Bearer with garbage or nothing after it', async () => {
      for (const authorization of ['Bearer garbage', 'Bearer a.b.c', 'Bearer', 'Bearer !!!', 'Bearer x y']) {
        const response = await server.app.inject({ method: 'GET', url: ME, headers: { authorization } })
        expectUnauthorized(response, 'TOKEN_INVALID')
        expect(json(response), authorization).toEqual(invalidBody)
      }
    })

    it('guards /auth/sessions and POST /auth/logout-all with the same check', async () => {
      expectUnauthorized(await server.app.inject({ method: 'GET', url: '/auth/sessions' }), 'TOKEN_MISSING')
      expectUnauthorized(
        await server.app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer('nope') }),
        'TOKEN_INVALID',
      )
      expectUnauthorized(
        await server.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer('nope') }),
        'TOKEN_INVALID',
      )
      // and the refusal revoked nothing
      expect((await me(server.app, user.accessToken)).statusCode).toBe(200)
    })
  })

  describe('forged tokens', () => {
    it('accepts a token re-signed by the server key with unchanged claims (control for the forgeries)', async () => {
      const response = await me(server.app, await sign(freshClaims(), ourHeader(), signer.key))
      expect(response.statusCode, response.body).toBe(200)
    })

    it('refuses a token whose payload was changed to roles ["admin"] under the original signature', async () => {
      const [header, payload, signature] = segments(user.accessToken)
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JWTPayload
      expect(claims.roles).toEqual(['user'])
      await expectRefused(`${header}.${b64url({ ...claims, roles: ['admin'] })}.${signature}`)
    })

    it('refuses a genuine token whose signature was stripped or altered', async () => {
      const [header, payload, signature] = segments(user.accessToken)
      await expectRefused(`${header}.${payload}.`)
      const flipped = Buffer.from(signature, 'base64url')
      flipped[0] = (flipped[0] ?? 0) ^ 1
      await expectRefused(`${header}.${payload}.${flipped.toString('base64url')}`)
    })

    it('refuses an unsigned token with alg "none" and the real kid', async () => {
      for (const alg of ['none', 'None', 'NONE']) {
        await expectRefused(`${b64url(ourHeader({ alg }))}.${b64url(freshClaims())}.`)
      }
    })

    describe('refuses HS256 signed with the server public key (algorithm confusion)', () => {
      const ourPublicKey = () => createPublicKey({ key: ourPublicJwk as JsonWebKey, format: 'jwk' })
      const pem = () => String(ourPublicKey().export({ type: 'spki', format: 'pem' }))
      const variants: [string, () => Uint8Array | string][] = [
        ['the SPKI PEM', pem],
        ['the SPKI PEM without its trailing newline', () => pem().trimEnd()],
        ['the PKCS#1 PEM', () => String(ourPublicKey().export({ type: 'pkcs1', format: 'pem' }))],
        ['the SPKI DER bytes', () => ourPublicKey().export({ type: 'spki', format: 'der' })],
        ['the JWK n bytes', () => Buffer.from(String(ourPublicJwk.n), 'base64url')],
        ['the JWK n string', () => String(ourPublicJwk.n)],
        ['the JWK as JSON', () => JSON.stringify(ourPublicJwk)],
      ]
      it.each(variants)('keyed with %s', async (_name, secret) => {
        await expectRefused(hmacToken(ourHeader({ alg: 'HS256' }), freshClaims(), secret()))
      })
    })

    it('refuses a token signed by a foreign RSA key that names our kid', async () => {
      await expectRefused(await sign(freshClaims(), ourHeader(), attacker.privateKey))
    })

    it('refuses a token signed by a foreign EC key with alg ES256 and our kid', async () => {
      const ec = await generateKeyPair('ES256')
      await expectRefused(await sign(freshClaims(), ourHeader({ alg: 'ES256' }), ec.privateKey))
    })

    it('refuses a token with an unknown kid, signed by a foreign key', async () => {
      await expectRefused(
        await sign(freshClaims(), ourHeader({ kid: 'attacker-key-1' }), attacker.privateKey),
      )
    })

    it('refuses a token with an unknown kid even when signed by our key', async () => {
      await expectRefused(await sign(freshClaims(), ourHeader({ kid: `${signer.kid}x` }), signer.key))
    })

    it('refuses a token without a kid, even when signed by our key', async () => {
      await expectRefused(await sign(freshClaims(), { alg: signer.alg, typ: 'at+jwt' }, signer.key))
    })

    it('refuses a token that embeds its own public key in a jwk header and is signed by it', async () => {
      const jwk = await exportJWK(attacker.publicKey)
      await expectRefused(await sign(freshClaims(), ourHeader({ jwk }), attacker.privateKey))
      await expectRefused(
        await sign(freshClaims(), { alg: 'RS256', typ: 'at+jwt', jwk }, attacker.privateKey),
      )
    })

    it('refuses a token with a jwk header even when the key and signature are our own', async () => {
      const { kty, n, e } = ourPublicJwk
      await expectRefused(await sign(freshClaims(), ourHeader({ jwk: { kty, n, e } }), signer.key))
    })

    it('refuses a token with a jku header pointing at a foreign key set', async () => {
      const header = ourHeader({ jku: 'https://attacker.example/.well-known/jwks.json' })
      await expectRefused(await sign(freshClaims(), header, attacker.privateKey))
    })

    it('refuses a token with a jku header even when signed by our key', async () => {
      const header = ourHeader({ jku: 'https://attacker.example/.well-known/jwks.json' })
      await expectRefused(await sign(freshClaims(), header, signer.key))
    })

    it('refuses a token with an x5u or x5c header', async () => {
      await expectRefused(
        await sign(freshClaims(), ourHeader({ x5u: 'https://attacker.example/cert.pem' }), signer.key),
      )
      await expectRefused(await sign(freshClaims(), ourHeader({ x5c: ['MIIB'] }), signer.key))
    })

    describe('signed by our own key but with claims we would never issue', () => {
      it('refuses a wrong iss', async () => {
        await expectRefused(await sign(freshClaims({ iss: 'https://evil.example' }), ourHeader(), signer.key))
        await expectRefused(
          await sign(freshClaims({ iss: `${server.config.publicUrl}/` }), ourHeader(), signer.key),
        )
      })

      it('refuses a missing iss', async () => {
        const { iss: _iss, ...claims } = freshClaims()
        await expectRefused(await sign(claims, ourHeader(), signer.key))
      })

      it('refuses a wrong aud', async () => {
        await expectRefused(await sign(freshClaims({ aud: 'another-api' }), ourHeader(), signer.key))
        await expectRefused(await sign(freshClaims({ aud: ['another-api'] }), ourHeader(), signer.key))
      })

      it('refuses a missing aud', async () => {
        const { aud: _aud, ...claims } = freshClaims()
        await expectRefused(await sign(claims, ourHeader(), signer.key))
      })

      it('refuses typ JWT, another typ, or no typ at all', async () => {
        for (const typ of ['JWT', 'jwt', 'id_token+jwt', 'at+jwe']) {
          await expectRefused(await sign(freshClaims(), ourHeader({ typ }), signer.key))
        }
        const { typ: _typ, ...noTyp } = ourHeader()
        await expectRefused(await sign(freshClaims(), noTyp, signer.key))
      })

      it('refuses a missing sid', async () => {
        const { sid: _sid, ...claims } = freshClaims()
        await expectRefused(await sign(claims, ourHeader(), signer.key))
      })

      it('refuses a missing sub or jti', async () => {
        const { sub: _sub, ...noSub } = freshClaims()
        await expectRefused(await sign(noSub, ourHeader(), signer.key))
        const { jti: _jti, ...noJti } = freshClaims()
        await expectRefused(await sign(noJti, ourHeader(), signer.key))
      })

      it('refuses a token without exp (one that would never expire)', async () => {
        const { exp: _exp, ...claims } = freshClaims()
        await expectRefused(await sign(claims, ourHeader(), signer.key))
      })

      it('refuses nbf in the future', async () => {
        const now = epoch(server.clock.now())
        await expectRefused(await sign(freshClaims({ nbf: now + 1 }), ourHeader(), signer.key))
        await expectRefused(await sign(freshClaims({ nbf: now + 3600 }), ourHeader(), signer.key))
      })

      it('refuses roles that are not an array of strings, or a non-boolean email_verified', async () => {
        await expectRefused(await sign(freshClaims({ roles: 'admin' }), ourHeader(), signer.key))
        await expectRefused(await sign(freshClaims({ roles: [1] }), ourHeader(), signer.key))
        await expectRefused(await sign(freshClaims({ email_verified: 'true' }), ourHeader(), signer.key))
      })

      it('refuses a session id that does not exist', async () => {
        await expectRefused(await sign(freshClaims({ sid: randomUUID() }), ourHeader(), signer.key))
      })

      it("refuses another user's sub paired with this user's session", async () => {
        const other = await registerUser(server.app)
        await expectRefused(await sign(freshClaims({ sub: other.userId }), ourHeader(), signer.key))
      })
    })
  })

  describe('revoked sessions', () => {
    it('refuses the access token after POST /auth/logout-all, in every session of the user', async () => {
      const victim = await registerUser(server.app)
      const second = await login(server.app, victim.email)
      const bystander = await registerUser(server.app)
      const response = await server.app.inject({
        method: 'POST',
        url: '/auth/logout-all',
        headers: bearer(victim.accessToken),
      })
      expect(response.statusCode).toBe(204)
      await expectRevoked(victim.accessToken)
      await expectRevoked(second.accessToken)
      expect((await me(server.app, bystander.accessToken)).statusCode).toBe(200)
    })

    it('refuses the access token after POST /auth/logout with its refresh token', async () => {
      const victim = await registerUser(server.app)
      const other = await login(server.app, victim.email)
      expect((await me(server.app, victim.accessToken)).statusCode).toBe(200)
      const response = await server.app.inject({
        method: 'POST',
        url: '/auth/logout',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ refreshToken: victim.refreshToken }),
      })
      expect(response.statusCode, response.body).toBe(204)
      await expectRevoked(victim.accessToken)
      // only that session ended
      expect((await me(server.app, other.accessToken)).statusCode).toBe(200)
    })

    it('refuses the access token after DELETE /auth/sessions/:id of its session', async () => {
      const victim = await registerUser(server.app)
      const other = await login(server.app, victim.email)
      const sid = String(decodeJwt(victim.accessToken).sid)
      const listed = await server.app.inject({
        method: 'GET',
        url: '/auth/sessions',
        headers: bearer(victim.accessToken),
      })
      expect(listed.statusCode).toBe(200)
      const sessions = json<{ sessions: { id: string; current: boolean }[] }>(listed).sessions
      expect(sessions.find((session) => session.current)?.id).toBe(sid)

      const response = await server.app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${sid}`,
        headers: bearer(other.accessToken),
      })
      expect(response.statusCode, response.body).toBe(204)
      await expectRevoked(victim.accessToken)
      expect((await me(server.app, other.accessToken)).statusCode).toBe(200)
    })

    it('refuses the access token after DELETE /auth/sessions/:id of its own session', async () => {
      const victim = await registerUser(server.app)
      const sid = String(decodeJwt(victim.accessToken).sid)
      const response = await server.app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${sid}`,
        headers: bearer(victim.accessToken),
      })
      expect(response.statusCode, response.body).toBe(204)
      await expectRevoked(victim.accessToken)
    })
  })

  describe('claims', () => {
    it('carries exactly iss, aud, sub, sid, jti, iat, exp, roles, email, email_verified, amr, acr and auth_time', async () => {
      const fresh = await registerUser(server.app)
      const claims = decodeJwt(fresh.accessToken)
      expect(Object.keys(claims).sort()).toEqual(CLAIM_NAMES)
      expect(claims).toMatchObject({
        iss: 'http://localhost:3000',
        aud: 'tessera',
        sub: fresh.userId,
        roles: ['user'],
        email: fresh.email,
        email_verified: false,
        // a password sign-in (RFC 8176), at the registration
        amr: ['pwd'],
        acr: 'urn:tessera:pwd',
        auth_time: epoch(server.clock.now()),
      })
      expect(claims.sub).toMatch(UUID)
      expect(claims.jti).toEqual(expect.any(String))
      expect(String(claims.jti).length).toBeGreaterThanOrEqual(16)
      // nothing secret in the token, however it is encoded
      const payloadText = Buffer.from(segments(fresh.accessToken)[1], 'base64url').toString('utf8')
      expect(payloadText).not.toMatch(/password|hash|\$argon2|\$2[aby]\$/i)
    })

    it('sets iat to the server clock and exp to iat + 900, matching expiresIn', async () => {
      const fresh = await registerUser(server.app)
      const { iat, exp } = decodeJwt(fresh.accessToken)
      expect(iat).toBe(epoch(server.clock.now()))
      expect(exp).toBe(Number(iat) + 900)
      expect(json<{ expiresIn: number }>(fresh.response).expiresIn).toBe(900)
    })

    it('sets sid to the id of the session the token belongs to', async () => {
      const fresh = await registerUser(server.app)
      const response = await server.app.inject({
        method: 'GET',
        url: '/auth/sessions',
        headers: bearer(fresh.accessToken),
      })
      const sessions = json<{ sessions: { id: string; current: boolean }[] }>(response).sessions
      expect(sessions).toHaveLength(1)
      expect(sessions[0]).toMatchObject({ id: decodeJwt(fresh.accessToken).sid, current: true })
    })

    it('gives every token a unique jti, also within one session across refreshes', async () => {
      const a = await registerUser(server.app)
      const b = await registerUser(server.app)
      const again = await login(server.app, a.email)
      const refreshed = await server.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: { refreshToken: a.refreshToken },
      })
      expect(refreshed.statusCode, refreshed.body).toBe(200)
      const refreshedToken = json<{ accessToken: string }>(refreshed).accessToken
      const tokens = [a.accessToken, b.accessToken, again.accessToken, refreshedToken]
      const jtis = tokens.map((token) => decodeJwt(token).jti)
      expect(new Set(jtis).size).toBe(tokens.length)
      // a refresh stays in its session; a login opens a new one
      expect(decodeJwt(refreshedToken).sid).toBe(decodeJwt(a.accessToken).sid)
      expect(decodeJwt(again.accessToken).sid).not.toBe(decodeJwt(a.accessToken).sid)
    })
  })

  describe('JWKS', () => {
    it('signs with RS256 by default: header alg RS256, typ at+jwt, kid of a published RSA key', async () => {
      const header = decodeProtectedHeader(user.accessToken)
      expect(header).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: expect.any(String) })
      const key = (await jwksOf(server.app)).find((candidate) => candidate.kid === header.kid)
      expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' })
      // RSA 2048: a 256-byte modulus
      expect(Buffer.from(String(key?.n), 'base64url')).toHaveLength(256)
    })

    it('publishes only public members, each key with kid, alg and use "sig", and a Cache-Control', async () => {
      const response = await server.app.inject({ method: 'GET', url: JWKS_PATH })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^application\/(jwk-set\+)?json\b/)
      expect(response.headers['cache-control']).toMatch(/max-age=\d+/)
      const { keys } = json<{ keys: JWK[] }>(response)
      expect(keys.length).toBeGreaterThan(0)
      for (const key of keys) {
        for (const member of PRIVATE_JWK_MEMBERS) expect(key).not.toHaveProperty(member)
        expect(key.kty).not.toBe('oct')
        expect(key).toMatchObject({ kid: expect.any(String), alg: expect.any(String), use: 'sig' })
      }
      expect(new Set(keys.map((key) => key.kid)).size).toBe(keys.length)
    })

    it('verifies with plain jose against the JWKS of the listening server, as a separate service would', async () => {
      const jwksUrl = await listenForJwks(server)
      const discovery = await fetch(new URL('/.well-known/openid-configuration', jwksUrl))
      const { issuer } = (await discovery.json()) as { issuer: string }
      expect(issuer).toBe(server.config.publicUrl)

      const remote = createRemoteJWKSet(jwksUrl)
      const options = { issuer, audience: 'tessera', typ: 'at+jwt', algorithms: ['RS256'] }
      const fresh = await registerUser(server.app)
      const { payload, protectedHeader } = await jwtVerify(fresh.accessToken, remote, options)
      expect(payload).toMatchObject({ sub: fresh.userId, iss: 'http://localhost:3000', aud: 'tessera' })
      expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'at+jwt' })

      // the same verifier refuses a token signed by another key under our kid
      const forged = await sign(freshClaims(), ourHeader(), attacker.privateKey)
      await expect(jwtVerify(forged, remote, options)).rejects.toBeInstanceOf(
        joseErrors.JWSSignatureVerificationFailed,
      )
      // and one for another audience
      const otherAudience = await sign(freshClaims({ aud: 'another-api' }), ourHeader(), signer.key)
      await expect(jwtVerify(otherAudience, remote, options)).rejects.toBeInstanceOf(
        joseErrors.JWTClaimValidationFailed,
      )
    })
  })
})

describe('on an RS256 server whose clock the tests move', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(() => server.close())

  describe('expiry, with no leeway', () => {
    it('accepts a token at iat + 899 s and answers TOKEN_EXPIRED at exactly exp and after', async () => {
      const user = await registerUser(server.app)
      const { iat, exp } = decodeJwt(user.accessToken)
      expect(exp).toBe(Number(iat) + 900)

      server.clock.advance(899)
      expect(epoch(server.clock.now())).toBe(Number(exp) - 1)
      expect((await me(server.app, user.accessToken)).statusCode).toBe(200)

      server.clock.advance(1)
      expect(epoch(server.clock.now())).toBe(exp)
      expectUnauthorized(await me(server.app, user.accessToken), 'TOKEN_EXPIRED')

      server.clock.advance(1)
      expectUnauthorized(await me(server.app, user.accessToken), 'TOKEN_EXPIRED')
      server.clock.advance(86_400)
      expectUnauthorized(await me(server.app, user.accessToken), 'TOKEN_EXPIRED')
    })

    it('answers TOKEN_EXPIRED on every Bearer route, not just /auth/me', async () => {
      const user = await registerUser(server.app)
      server.clock.advance(900)
      const sessions = await server.app.inject({
        method: 'GET',
        url: '/auth/sessions',
        headers: bearer(user.accessToken),
      })
      expectUnauthorized(sessions, 'TOKEN_EXPIRED')
      const logoutAll = await server.app.inject({
        method: 'POST',
        url: '/auth/logout-all',
        headers: bearer(user.accessToken),
      })
      expectUnauthorized(logoutAll, 'TOKEN_EXPIRED')
    })

    it('answers TOKEN_INVALID, not TOKEN_EXPIRED, for an expired token whose signature is forged', async () => {
      const user = await registerUser(server.app)
      server.clock.advance(1000)
      expectUnauthorized(await me(server.app, user.accessToken), 'TOKEN_EXPIRED')

      const [header, payload, signature] = segments(user.accessToken)
      const flipped = Buffer.from(signature, 'base64url')
      flipped[10] = (flipped[10] ?? 0) ^ 0xff
      expectUnauthorized(
        await me(server.app, `${header}.${payload}.${flipped.toString('base64url')}`),
        'TOKEN_INVALID',
      )

      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JWTPayload
      expectUnauthorized(
        await me(server.app, `${header}.${b64url({ ...claims, roles: ['admin'] })}.${signature}`),
        'TOKEN_INVALID',
      )

      const { kid } = server.deps.keyRing.signingKey()
      const attacker = await generateKeyPair('RS256')
      const foreign = await sign(claims, { alg: 'RS256', kid, typ: 'at+jwt' }, attacker.privateKey)
      expectUnauthorized(await me(server.app, foreign), 'TOKEN_INVALID')
      expectUnauthorized(
        await me(server.app, `${b64url({ alg: 'none', kid, typ: 'at+jwt' })}.${payload}.`),
        'TOKEN_INVALID',
      )
    })
  })

  describe('key rotation', () => {
    let before: Registered
    let duringLead: Registered
    let after: Registered
    let oldSigner: SigningKey
    let newKid: string
    let jwksDuringLead: string[]

    beforeAll(async () => {
      before = await registerUser(server.app)
      oldSigner = server.deps.keyRing.signingKey()
      const rotated = await rotateKey({
        stores: server.deps.stores,
        clock: server.clock,
        secret: TEST_SECRET,
        alg: 'RS256',
        lead: server.config.keyPublishLead,
      })
      newKid = rotated.kid
      expect(rotated.activatesAt.getTime() - server.clock.now().getTime()).toBe(90_000)
      await server.deps.keyRing.reload()
      // published now, signing only after the lead
      jwksDuringLead = (await jwksOf(server.app)).map((key) => key.kid ?? '')
      server.clock.advance(server.config.keyPublishLead - 1)
      duringLead = await registerUser(server.app)
      server.clock.advance(1)
      // no reload: every instance switches at the activation time it already knows
      after = await registerUser(server.app)
    })

    it('publishes the new key before it signs, then signs new tokens with it', () => {
      expect(newKid).not.toBe(oldSigner.kid)
      expect(jwksDuringLead).toEqual(expect.arrayContaining([oldSigner.kid, newKid]))
      expect(decodeProtectedHeader(before.accessToken).kid).toBe(oldSigner.kid)
      expect(decodeProtectedHeader(duringLead.accessToken).kid).toBe(oldSigner.kid)
      expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid)
      expect(server.deps.keyRing.signingKey().kid).toBe(newKid)
    })

    it('still accepts a token issued before the rotation, and the new ones', async () => {
      expect((await me(server.app, before.accessToken)).statusCode).toBe(200)
      expect((await me(server.app, after.accessToken)).statusCode).toBe(200)
    })

    it('lists both the retired and the new key in the JWKS', async () => {
      const kids = (await jwksOf(server.app)).map((key) => key.kid)
      expect(kids).toEqual(expect.arrayContaining([oldSigner.kid, newKid]))
      expect(kids).toHaveLength(2)
    })

    // the next two move the clock and depend on running in this order
    it('keeps the retired key while its tokens may live, and drops it after accessTokenTtl + keyRefreshInterval + 60 s', async () => {
      const { accessTokenTtl, keyRefreshInterval } = server.config
      const keep = accessTokenTtl + keyRefreshInterval + 60

      // the last token the old key signed, a second before the switch, lives until then
      server.clock.advance(accessTokenTtl - 2)
      await server.deps.keyRing.reload()
      expect((await me(server.app, duringLead.accessToken)).statusCode).toBe(200)

      server.clock.advance(keep - accessTokenTtl)
      await server.deps.keyRing.reload()
      expect((await jwksOf(server.app)).map((key) => key.kid)).toContain(oldSigner.kid)

      server.clock.advance(2)
      await server.deps.keyRing.reload()
      const kids = (await jwksOf(server.app)).map((key) => key.kid)
      expect(kids).toEqual([newKid])
    })

    it('refuses a token signed by the retired key once it has left the key ring', async () => {
      const iat = epoch(server.clock.now())
      const claims = { ...claimsOf(after.accessToken), iat, exp: iat + 900, jti: randomUUID() }
      const viaNew = await sign(
        claims,
        { alg: 'RS256', kid: newKid, typ: 'at+jwt' },
        server.deps.keyRing.signingKey().key,
      )
      expect((await me(server.app, viaNew)).statusCode).toBe(200)
      const viaOld = await sign(claims, { alg: 'RS256', kid: oldSigner.kid, typ: 'at+jwt' }, oldSigner.key)
      expectUnauthorized(await me(server.app, viaOld), 'TOKEN_INVALID')
    })
  })
})

describe.each(['ES256', 'EdDSA'] as const)('with TESSERA_SIGNING_ALG=%s', (alg) => {
  const expectedKey = alg === 'ES256' ? { kty: 'EC', crv: 'P-256' } : { kty: 'OKP', crv: 'Ed25519' }
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer({ TESSERA_SIGNING_ALG: alg })
  })
  afterAll(() => server.close())

  it(`issues ${alg} tokens that /auth/me accepts`, async () => {
    const user = await registerUser(server.app)
    expect(decodeProtectedHeader(user.accessToken)).toMatchObject({ alg, typ: 'at+jwt' })
    expect((await me(server.app, user.accessToken)).statusCode).toBe(200)
  })

  it(`publishes only public ${expectedKey.kty} keys in the JWKS`, async () => {
    const keys = await jwksOf(server.app)
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) {
      expect(key).toMatchObject({ ...expectedKey, alg, use: 'sig', kid: expect.any(String) })
      for (const member of PRIVATE_JWK_MEMBERS) expect(key).not.toHaveProperty(member)
    }
  })

  it('issues tokens that plain jose verifies against the remote JWKS', async () => {
    const remote = createRemoteJWKSet(await listenForJwks(server))
    const user = await registerUser(server.app)
    const { payload, protectedHeader } = await jwtVerify(user.accessToken, remote, {
      issuer: server.config.publicUrl,
      audience: 'tessera',
      typ: 'at+jwt',
      algorithms: [alg],
    })
    expect(payload.sub).toBe(user.userId)
    expect(protectedHeader.kid).toBe(server.deps.keyRing.signingKey().kid)
  })

  it('refuses an RS256 token and a foreign key of the same type under our kid', async () => {
    const user = await registerUser(server.app)
    const claims = claimsOf(user.accessToken)
    const { kid } = server.deps.keyRing.signingKey()
    const rsa = await generateKeyPair('RS256')
    expectUnauthorized(
      await me(server.app, await sign(claims, { alg: 'RS256', kid, typ: 'at+jwt' }, rsa.privateKey)),
      'TOKEN_INVALID',
    )
    const same = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {})
    expectUnauthorized(
      await me(server.app, await sign(claims, { alg, kid, typ: 'at+jwt' }, same.privateKey)),
      'TOKEN_INVALID',
    )
  })
})

describe('with TESSERA_SIGNING_ALG=HS256 and a shared secret', () => {
  const secret = randomBytes(36).toString('base64url')
  let server: TestServer
  let user: Registered
  beforeAll(async () => {
    server = await startTestServer({ TESSERA_SIGNING_ALG: 'HS256', TESSERA_HS256_SECRET: secret })
    user = await registerUser(server.app)
  })
  afterAll(() => server.close())

  it('issues HS256 tokens that /auth/me accepts', async () => {
    expect(decodeProtectedHeader(user.accessToken)).toMatchObject({ alg: 'HS256', typ: 'at+jwt' })
    expect((await me(server.app, user.accessToken)).statusCode).toBe(200)
  })

  it('issues tokens a service holding the same secret verifies with plain jose', async () => {
    const { payload } = await jwtVerify(user.accessToken, new TextEncoder().encode(secret), {
      issuer: server.config.publicUrl,
      audience: 'tessera',
      typ: 'at+jwt',
      algorithms: ['HS256'],
    })
    expect(payload.sub).toBe(user.userId)
  })

  it('never publishes the symmetric key in the JWKS', async () => {
    const response = await server.app.inject({ method: 'GET', url: JWKS_PATH })
    expect(response.statusCode).toBe(200)
    const { keys } = json<{ keys: JWK[] }>(response)
    for (const key of keys) {
      expect(key.kty).not.toBe('oct')
      expect(key).not.toHaveProperty('k')
    }
    expect(response.body).not.toContain(secret)
    expect(response.body).not.toContain(Buffer.from(secret).toString('base64url'))
  })

  it('refuses a token signed HS256 with a different secret', async () => {
    const header = decodeProtectedHeader(user.accessToken)
    const claims = claimsOf(user.accessToken)
    // the same claims under the right secret pass, so only the secret differs
    expect((await me(server.app, hmacToken(header, claims, secret))).statusCode).toBe(200)
    expectUnauthorized(
      await me(server.app, hmacToken(header, claims, randomBytes(36).toString('base64url'))),
      'TOKEN_INVALID',
    )
  })

  it('refuses an HS256 token under another kid, and an unsigned one', async () => {
    const header = decodeProtectedHeader(user.accessToken)
    const claims = claimsOf(user.accessToken)
    expectUnauthorized(
      await me(server.app, hmacToken({ ...header, kid: 'other' }, claims, secret)),
      'TOKEN_INVALID',
    )
    expectUnauthorized(
      await me(server.app, `${b64url({ ...header, alg: 'none' })}.${b64url(claims)}.`),
      'TOKEN_INVALID',
    )
  })
})
