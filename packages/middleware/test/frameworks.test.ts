import { createPublicKey } from 'node:crypto'
import { connect } from 'node:net'
import { decodeProtectedHeader, generateKeyPair, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { createVerifier } from '../src/index.js'
import { bearer, FRAMEWORKS, type RunningApp } from './helpers/apps.js'
import { expectProblem } from './helpers/expect.js'
import { rotateKey } from './helpers/server.js'
import { type Issued, type RunningTessera, startTessera } from './helpers/tessera.js'
import {
  accessClaims,
  epoch,
  hmacToken,
  sign,
  unsecuredToken,
  withBrokenSignature,
  withPayload,
} from './helpers/tokens.js'

// short, and the forged-kid test still runs well inside one cooldown
const COOLDOWN_SECONDS = 2

let server: RunningTessera
const revokedJtis = new Set<string>()

beforeAll(async () => {
  server = await startTessera()
})
afterAll(async () => {
  await server?.close()
})

const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid

describe.each(FRAMEWORKS)('$framework middleware against a running Tessera', ({ start }) => {
  let app: RunningApp
  let user: Issued

  beforeAll(async () => {
    // issuer only: the JWKS location comes from the server's discovery document
    app = await start({
      issuer: server.url,
      audience: 'tessera',
      // none: a key rotated in is fetched at once, no cooldown to wait out (the forged-kid test
      // has an app of its own with one)
      jwksCooldown: 0,
      isRevoked: (claims) => claims.jti !== undefined && revokedJtis.has(claims.jti),
    })
    user = await server.register()
  })
  afterAll(async () => {
    await app?.close()
  })

  /** The server's signing key and claims it would issue, for tokens the server would never sign. */
  const genuine = () => {
    const { kid, alg, key } = server.tessera.deps.keyRing.signingKey()
    return { kid, alg, key, claims: accessClaims(server.url) }
  }

  describe('authenticate', () => {
    it('accepts a token the server issued and puts its claims on the request', async () => {
      const result = await app.get('/me', bearer(user.accessToken))
      expect(result.status, result.text).toBe(200)
      expect(result.body?.auth).toMatchObject({
        sub: user.userId,
        roles: ['user'],
        email: user.email,
        email_verified: false,
        iss: server.url,
        aud: 'tessera',
      })
      const auth = result.body?.auth as Record<string, unknown>
      expect(auth.sid).toEqual(expect.any(String))
      expect(auth.exp).toBe((auth.iat as number) + 900)
    })

    it('reads the Bearer scheme case-insensitively', async () => {
      const result = await app.get('/me', { authorization: `bEaReR ${user.accessToken}` })
      expect(result.status, result.text).toBe(200)
    })

    it('answers 401 TOKEN_MISSING with a Bearer challenge when no token is sent', async () => {
      expectProblem(await app.get('/me'), 'TOKEN_MISSING')
    })

    it('treats another scheme as no token and a malformed Bearer value as an invalid one', async () => {
      expectProblem(await app.get('/me', { authorization: `Basic ${btoa('a:b')}` }), 'TOKEN_MISSING')
      expectProblem(await app.get('/me', { authorization: 'Bearer' }), 'TOKEN_INVALID')
      expectProblem(await app.get('/me', { authorization: 'Bearer a b' }), 'TOKEN_INVALID')
      expectProblem(await app.get('/me', { authorization: `Bearer\t${user.accessToken}` }), 'TOKEN_INVALID')
      expectProblem(await app.get('/maybe', { authorization: 'Bearer' }), 'TOKEN_INVALID')
    })

    it('refuses two Authorization headers (401 TOKEN_INVALID) rather than using the first', async () => {
      const url = new URL(app.url)
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname)
        const chunks: Buffer[] = []
        socket.on('data', (chunk) => chunks.push(chunk))
        socket.on('error', reject)
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
        socket.write(
          `GET /me HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${user.accessToken}\r\n` +
            'Authorization: Bearer x.y.z\r\nConnection: close\r\n\r\n',
        )
      })
      expect(answer.split('\r\n', 1)[0]).toBe('HTTP/1.1 401 Unauthorized')
      expect(answer).toContain('"code":"TOKEN_INVALID"')
    })

    it('reads the token after any number of spaces', async () => {
      const result = await app.get('/me', { authorization: `Bearer   ${user.accessToken}` })
      expect(result.status, result.text).toBe(200)
    })

    it('refuses a remembered token with characters outside base64url added or swapped in', async () => {
      // remembered first: the bearer reader does not scan the characters, the verifier must
      expect((await app.get('/me', bearer(user.accessToken))).status).toBe(200)
      const token = user.accessToken
      const [header, payload, signature] = token.split('.')
      const variants = [
        `${token}=`,
        `${token}~`,
        `${token}/`,
        `${token}.`,
        `${header}.${payload}+${signature}`,
        `${token.slice(0, 10)}+${token.slice(11)}`,
        `${token.slice(0, -1)}~`,
      ]
      for (const variant of variants) {
        expectProblem(await app.get('/me', bearer(variant)), 'TOKEN_INVALID')
        expectProblem(await app.get('/maybe', bearer(variant)), 'TOKEN_INVALID')
      }
      expect((await app.get('/me', bearer(user.accessToken))).status).toBe(200)
    })

    it('answers 401 TOKEN_EXPIRED for a genuine token past exp, which the client refreshes on', async () => {
      server.clock.shift(-3600)
      let expired: Issued
      try {
        expired = await server.register()
      } finally {
        server.clock.shift(0)
      }
      expectProblem(await app.get('/me', bearer(expired.accessToken)), 'TOKEN_EXPIRED')
      // expired is only said of a token whose signature holds
      expectProblem(await app.get('/me', bearer(withBrokenSignature(expired.accessToken))), 'TOKEN_INVALID')
    })

    const forgeries: Array<[string, () => Promise<string>]> = [
      [
        'an issuer other than the configured one',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign({ ...claims, iss: 'http://127.0.0.1:1' }, { alg, kid, typ: 'at+jwt' }, key)
        },
      ],
      [
        'another audience',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign({ ...claims, aud: 'billing' }, { alg, kid, typ: 'at+jwt' }, key)
        },
      ],
      [
        'typ JWT instead of at+jwt (an ID token or another JWT)',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign(claims, { alg, kid, typ: 'JWT' }, key)
        },
      ],
      [
        'no typ',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign(claims, { alg, kid }, key)
        },
      ],
      [
        'alg none',
        async () => unsecuredToken({ alg: 'none', kid: genuine().kid, typ: 'at+jwt' }, genuine().claims),
      ],
      [
        "HS256 keyed with the server's public key (algorithm confusion)",
        async () => {
          const { kid, claims } = genuine()
          const jwk = server.tessera.deps.keyRing.jwks().keys.find((candidate) => candidate.kid === kid)
          const pem = createPublicKey({ key: jwk as JWK & { kty: string }, format: 'jwk' })
            .export({ type: 'spki', format: 'pem' })
            .toString()
          return hmacToken({ alg: 'HS256', kid, typ: 'at+jwt' }, claims, pem)
        },
      ],
      [
        'a genuine signature with an embedded jwk header',
        async () => {
          const { kid, alg, key, claims } = genuine()
          const jwk = server.tessera.deps.keyRing.jwks().keys.find((candidate) => candidate.kid === kid)
          return sign(claims, { alg, kid, typ: 'at+jwt', jwk: { kty: jwk?.kty, n: jwk?.n, e: jwk?.e } }, key)
        },
      ],
      [
        'a genuine signature with a jku header',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign(claims, { alg, kid, typ: 'at+jwt', jku: 'https://attacker.example/jwks.json' }, key)
        },
      ],
      [
        'a genuine signature with an x5u header',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign(claims, { alg, kid, typ: 'at+jwt', x5u: 'https://attacker.example/cert.pem' }, key)
        },
      ],
      [
        'a foreign key under the real kid',
        async () => {
          const { kid, alg, claims } = genuine()
          const attacker = await generateKeyPair('RS256')
          return sign(claims, { alg, kid, typ: 'at+jwt' }, attacker.privateKey)
        },
      ],
      [
        'a payload changed after signing (roles: admin)',
        async () => withPayload(user.accessToken, { ...genuine().claims, roles: ['admin'] }),
      ],
      [
        'no sub',
        async () => {
          const { kid, alg, key, claims } = genuine()
          const { sub: _sub, ...rest } = claims
          return sign(rest, { alg, kid, typ: 'at+jwt' }, key)
        },
      ],
      [
        'roles that are not a list of strings',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign({ ...claims, roles: 'admin' }, { alg, kid, typ: 'at+jwt' }, key)
        },
      ],
      [
        'nbf in the future',
        async () => {
          const { kid, alg, key, claims } = genuine()
          return sign({ ...claims, nbf: epoch() + 60 }, { alg, kid, typ: 'at+jwt' }, key)
        },
      ],
      ['three segments that are not a JWT', async () => 'abc.def.ghi'],
    ]

    it.each(forgeries)('answers 401 TOKEN_INVALID for %s', async (_name, forge) => {
      expectProblem(await app.get('/me', bearer(await forge())), 'TOKEN_INVALID')
    })

    it('answers 401 TOKEN_INVALID for unknown kids and re-fetches the JWKS at most once per cooldown', async () => {
      const app = await start({ issuer: server.url, audience: 'tessera', jwksCooldown: COOLDOWN_SECONDS })
      onTestFinished(() => app.close())
      expect((await app.get('/me', bearer(user.accessToken))).status).toBe(200)
      const attacker = await generateKeyPair('RS256')
      const before = server.jwksFetches()
      for (let i = 0; i < 10; i++) {
        const token = await sign(
          accessClaims(server.url),
          { alg: 'RS256', kid: `forged-${i}`, typ: 'at+jwt' },
          attacker.privateKey,
        )
        expectProblem(await app.get('/me', bearer(token)), 'TOKEN_INVALID')
      }
      expect(server.jwksFetches() - before).toBeLessThanOrEqual(1)
    })

    it('accepts tokens of a key rotated in while the app runs, and still those of the old key', async () => {
      const old = await server.register()
      expect((await app.get('/me', bearer(old.accessToken))).status).toBe(200)

      await rotateKey({
        stores: server.tessera.deps.stores,
        clock: server.clock,
        secret: server.secret,
        alg: 'RS256',
        lead: 0,
      })
      await server.tessera.deps.keyRing.reload()
      const fresh = await server.register()
      expect(kidOf(fresh.accessToken)).not.toBe(kidOf(old.accessToken))

      const before = server.jwksFetches()
      const result = await app.get('/me', bearer(fresh.accessToken))
      expect(result.status, result.text).toBe(200)
      expect(result.body?.auth).toMatchObject({ sub: fresh.userId })
      // the unknown kid made the app fetch the new key set, once
      expect(server.jwksFetches() - before).toBe(1)
      expect((await app.get('/me', bearer(old.accessToken))).status).toBe(200)
    })

    it('answers 401 TOKEN_INVALID when isRevoked says the token is revoked', async () => {
      const other = await server.register()
      const jti = (
        JSON.parse(Buffer.from(other.accessToken.split('.')[1] ?? '', 'base64url').toString()) as {
          jti: string
        }
      ).jti
      expect((await app.get('/me', bearer(other.accessToken))).status).toBe(200)
      revokedJtis.add(jti)
      expectProblem(await app.get('/me', bearer(other.accessToken)), 'TOKEN_INVALID')
      expect((await app.get('/me', bearer(user.accessToken))).status).toBe(200)
    })

    it('reads the token where getToken says (a cookie), and only there', async () => {
      const result = await app.get('/cookie', { cookie: `theme=dark; access_token=${user.accessToken}` })
      expect(result.status, result.text).toBe(200)
      expect(result.body?.auth).toMatchObject({ sub: user.userId })
      expectProblem(await app.get('/cookie', bearer(user.accessToken)), 'TOKEN_MISSING')
      expectProblem(await app.get('/cookie', { cookie: 'access_token=nope' }), 'TOKEN_INVALID')
    })
  })

  describe('authorize', () => {
    it('answers 403 FORBIDDEN problem+json when the user has none of the roles', async () => {
      expectProblem(await app.get('/admin', bearer(user.accessToken)), 'FORBIDDEN')
      expectProblem(await app.get('/staff', bearer(user.accessToken)), 'FORBIDDEN')
    })

    it('lets an admin through once the server grants the role and issues a new token', async () => {
      const admin = await server.register()
      await server.tessera.deps.stores.users.setRoles(admin.userId, ['user', 'admin'], new Date())
      const relogged = await server.login(admin.email)
      const result = await app.get('/admin', bearer(relogged.accessToken))
      expect(result.status, result.text).toBe(200)
      expect(result.body?.auth).toMatchObject({ sub: admin.userId, roles: ['user', 'admin'] })
      expect((await app.get('/staff', bearer(relogged.accessToken))).status).toBe(200)
    })

    it('accepts any one of several roles', async () => {
      const moderator = await server.register()
      await server.tessera.deps.stores.users.setRoles(moderator.userId, ['user', 'moderator'], new Date())
      const relogged = await server.login(moderator.email)
      expect((await app.get('/staff', bearer(relogged.accessToken))).status).toBe(200)
      expectProblem(await app.get('/admin', bearer(relogged.accessToken)), 'FORBIDDEN')
    })

    it('answers 401 TOKEN_MISSING when nothing authenticated the request first', async () => {
      expectProblem(await app.get('/authorize-only', bearer(user.accessToken)), 'TOKEN_MISSING')
    })
  })

  describe('optionalAuth', () => {
    it('lets a request without a token through anonymously', async () => {
      const result = await app.get('/maybe')
      expect(result.status, result.text).toBe(200)
      expect(result.body).toEqual({ auth: null })
    })

    it('sets the claims when a valid token is sent', async () => {
      const result = await app.get('/maybe', bearer(user.accessToken))
      expect(result.status, result.text).toBe(200)
      expect(result.body?.auth).toMatchObject({ sub: user.userId, roles: ['user'] })
    })

    it('refuses a bad token instead of treating the request as anonymous', async () => {
      expectProblem(await app.get('/maybe', bearer(withBrokenSignature(user.accessToken))), 'TOKEN_INVALID')
      expectProblem(await app.get('/maybe', bearer('abc.def.ghi')), 'TOKEN_INVALID')
    })
  })
})

describe('discovery', () => {
  it('finds the JWKS from the issuer alone, on the first request, and keeps it', async () => {
    const calls: string[] = []
    const verifier = createVerifier({
      issuer: server.url,
      audience: 'tessera',
      fetch: (url, init) => {
        calls.push(url)
        return fetch(url, init)
      },
    })
    expect(calls).toEqual([])
    const { accessToken, userId } = await server.register()
    await expect(verifier.verify(accessToken)).resolves.toMatchObject({ sub: userId })
    await expect(verifier.verify(accessToken)).resolves.toMatchObject({ sub: userId })
    expect(calls).toEqual([
      `${server.url}/.well-known/openid-configuration`,
      `${server.url}/.well-known/jwks.json`,
    ])
  })
})

describe('local JWKS', () => {
  it("verifies the server's tokens against a key set given as an option", async () => {
    const verifier = createVerifier({
      issuer: server.url,
      audience: 'tessera',
      jwks: { keys: server.tessera.deps.keyRing.jwks().keys },
    })
    const { accessToken, userId } = await server.register()
    await expect(verifier.verify(accessToken)).resolves.toMatchObject({ sub: userId })
  })
})
