import { generateKeyPairSync, type KeyObject, sign as signBytes } from 'node:crypto'
import Fastify from 'fastify'
import { exportJWK, type JWK, type JWTPayload } from 'jose'
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { tesseraAuth } from '../src/fastify.js'
import { createVerifier, TesseraAuthError, type VerifierOptions } from '../src/index.js'
import { expectProblem } from './helpers/expect.js'
import {
  accessClaims,
  b64url,
  epoch,
  sign,
  unsecuredToken,
  withBrokenSignature,
  withPayload,
} from './helpers/tokens.js'

// counts the tokens that reach fast-jwt, i.e. the full signature checks the cache did not spare
const fastJwt = vi.hoisted(() => ({ verifications: 0 }))
vi.mock('fast-jwt', async (importOriginal) => {
  const original = await importOriginal<typeof import('fast-jwt')>()
  const createVerifier = (options: Parameters<typeof original.createVerifier>[0]) => {
    const verify = original.createVerifier(options)
    return (token: string) => {
      fastJwt.verifications++
      return verify(token)
    }
  }
  return { ...original, createVerifier }
})

const ISSUER = 'https://auth.example.com'
const KID = 'key-1'
const START = new Date('2030-01-01T00:00:00Z')

let privateKey: KeyObject
let publicJwk: JWK

beforeAll(async () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'RS256', use: 'sig' }
})

/** A clock the test moves: `set(seconds)` puts it that many seconds after START. */
function testClock() {
  let now = START
  return {
    now: () => now,
    set(seconds: number) {
      now = new Date(START.getTime() + seconds * 1000)
    },
  }
}

let clock: ReturnType<typeof testClock>
beforeEach(() => {
  clock = testClock()
  fastJwt.verifications = 0
})

const local = (options: Partial<VerifierOptions> = {}) =>
  createVerifier({ issuer: ISSUER, audience: 'tessera', jwks: { keys: [publicJwk] }, clock, ...options })

/** A token issued at START, valid for 15 minutes. */
const tokenAt = (overrides: JWTPayload = {}, header: Record<string, unknown> = {}) =>
  sign(
    accessClaims(ISSUER, { iat: epoch(START), exp: epoch(START) + 900, ...overrides }),
    { alg: 'RS256', kid: KID, typ: 'at+jwt', ...header },
    privateKey,
  )

/** An RS256 JWS signed by hand, for headers jose would refuse to sign. */
function handSigned(header: Record<string, unknown>, claims: JWTPayload): string {
  const input = `${b64url(header)}.${b64url(claims)}`
  return `${input}.${signBytes('sha256', Buffer.from(input), privateKey).toString('base64url')}`
}

/** The error `promise` rejects with, which must be a TesseraAuthError. */
async function authError(promise: Promise<unknown>): Promise<TesseraAuthError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraAuthError)
  return error as TesseraAuthError
}

describe('the verified-token cache', () => {
  it('checks a token in full once, then answers from the cache with the same claims', async () => {
    const verifier = local()
    const token = await tokenAt({ sub: 'cached-user' })
    const first = await verifier.verify(token)
    const second = await verifier.verify(token)
    expect(second).toEqual(first)
    expect(second).toMatchObject({ sub: 'cached-user', roles: ['user'] })
    expect(fastJwt.verifications).toBe(1)
    expect(verifier.cacheStats()).toEqual({ size: 1, maxSize: 10_000, hits: 1, misses: 1 })
  })

  it('gives every call its own claims, so a handler editing req.auth changes no later request', async () => {
    const verifier = local()
    const token = await tokenAt()
    const first = await verifier.verify(token)
    first.roles.push('admin')
    first.sub = 'someone-else'
    const second = await verifier.verify(token)
    expect(second.roles).toEqual(['user'])
    expect(second.sub).not.toBe('someone-else')
    second.roles.push('admin')
    expect((await verifier.verify(token)).roles).toEqual(['user'])
  })

  it('refuses a cached token as TOKEN_EXPIRED from the second of its exp, and forgets it', async () => {
    // a key set kept for an hour: the entry stands in for a full check until exp
    const verifier = local({ jwksCacheMaxAge: 3600 })
    const token = await tokenAt()
    await verifier.verify(token)
    clock.set(899.999)
    await expect(verifier.verify(token)).resolves.toMatchObject({ exp: epoch(START) + 900 })
    clock.set(900)
    const error = await authError(verifier.verify(token))
    expect(error).toMatchObject({ code: 'TOKEN_EXPIRED', status: 401 })
    expect(error.cause).toMatchObject({ code: 'FAST_JWT_EXPIRED' })
    expect(fastJwt.verifications).toBe(1)
    expect(verifier.cacheStats()).toMatchObject({ size: 0, hits: 2 })
  })

  it('applies clockTolerance to a cached token as to a new one', async () => {
    const verifier = local({ clockTolerance: 5, jwksCacheMaxAge: 3600 })
    const token = await tokenAt()
    await verifier.verify(token)
    clock.set(904)
    await expect(verifier.verify(token)).resolves.toMatchObject({ iss: ISSUER })
    clock.set(905)
    expect((await authError(verifier.verify(token))).code).toBe('TOKEN_EXPIRED')
    expect(fastJwt.verifications).toBe(1)
  })

  it('refuses a cached token when the clock goes back before its nbf', async () => {
    const verifier = local()
    const token = await tokenAt({ nbf: epoch(START) })
    await verifier.verify(token)
    clock.set(-1)
    expect((await authError(verifier.verify(token))).code).toBe('TOKEN_INVALID')
  })

  it('asks isRevoked on every request, cache hits included', async () => {
    const revoked = new Set<string>()
    const asked: string[] = []
    const verifier = local({
      isRevoked: (claims) => {
        asked.push(claims.jti ?? '')
        return revoked.has(claims.jti ?? '')
      },
    })
    const token = await tokenAt({ jti: 'jti-1' })
    await verifier.verify(token)
    await verifier.verify(token)
    revoked.add('jti-1')
    const error = await authError(verifier.verify(token))
    expect(error.code).toBe('TOKEN_INVALID')
    expect(asked).toEqual(['jti-1', 'jti-1', 'jti-1'])
    expect(fastJwt.verifications).toBe(1)
    // a revoked token is forgotten: were it un-revoked, it would be checked in full again
    expect(verifier.cacheStats().size).toBe(0)
  })

  it('passes an isRevoked failure on a cache hit on unchanged', async () => {
    let outage = false
    const failure = new Error('deny-list unreachable')
    const verifier = local({
      isRevoked: () => {
        if (outage) throw failure
        return false
      },
    })
    const token = await tokenAt()
    await verifier.verify(token)
    outage = true
    await expect(verifier.verify(token)).rejects.toBe(failure)
  })

  it('answers 401 on Fastify when isRevoked refuses a token the cache holds', async () => {
    const revoked = new Set<string>()
    const app = Fastify({ logger: false })
    await app.register(tesseraAuth, {
      issuer: ISSUER,
      audience: 'tessera',
      jwks: { keys: [publicJwk] },
      clock,
      isRevoked: (claims) => revoked.has(claims.sid ?? ''),
    })
    app.get('/me', { onRequest: app.tessera.authenticate }, async (request) => ({ sub: request.auth?.sub }))
    const token = await tokenAt({ sid: 'session-1' })
    const call = async () => {
      const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
      return {
        status: response.statusCode,
        headers: new Headers(response.headers as Record<string, string>),
        body: response.json() as Record<string, unknown>,
        text: response.body,
      }
    }
    expect((await call()).status).toBe(200)
    expect((await call()).status).toBe(200)
    expect(app.tessera.verifier.cacheStats()).toMatchObject({ hits: 1, size: 1 })
    revoked.add('session-1')
    expectProblem(await call(), 'TOKEN_INVALID')
    await app.close()
  })

  it('holds at most cacheSize tokens, dropping the oldest one first', async () => {
    const verifier = local({ cacheSize: 3 })
    const [a = '', b = '', c = '', d = ''] = await Promise.all(
      ['a', 'b', 'c', 'd'].map((sub) => tokenAt({ sub })),
    )
    for (const token of [a, b, c, a, d]) await verifier.verify(token)
    // a hit does not reorder: d took the place of a, the first in
    expect(verifier.cacheStats()).toEqual({ size: 3, maxSize: 3, hits: 1, misses: 4 })
    expect(fastJwt.verifications).toBe(4)
    await verifier.verify(d)
    await verifier.verify(c)
    expect(fastJwt.verifications).toBe(4)
    // a is checked in full again, and takes the place of b
    await verifier.verify(a)
    expect(fastJwt.verifications).toBe(5)
    await verifier.verify(b)
    expect(fastJwt.verifications).toBe(6)
    expect(verifier.cacheStats().size).toBe(3)
  })

  it('keeps one entry per token when concurrent requests verify it at once', async () => {
    const verifier = local({ cacheSize: 2 })
    const [a = '', b = ''] = await Promise.all(['a', 'b'].map((sub) => tokenAt({ sub })))
    await Promise.all([verifier.verify(a), verifier.verify(a), verifier.verify(a)])
    await verifier.verify(b)
    expect(verifier.cacheStats().size).toBe(2)
    const before = fastJwt.verifications
    await verifier.verify(a)
    await verifier.verify(b)
    expect(fastJwt.verifications).toBe(before)
  })

  it('stays within cacheSize for many distinct tokens', async () => {
    const verifier = local({ cacheSize: 10 })
    const tokens = await Promise.all(Array.from({ length: 25 }, (_, i) => tokenAt({ sub: `user-${i}` })))
    for (const token of tokens) await verifier.verify(token)
    expect(verifier.cacheStats()).toMatchObject({ size: 10, misses: 25 })
    // the first tokens were dropped: each costs a full check again
    await verifier.verify(tokens[0] ?? '')
    expect(fastJwt.verifications).toBe(26)
  })

  it('remembers nothing with cacheSize 0', async () => {
    const verifier = local({ cacheSize: 0 })
    const token = await tokenAt()
    await verifier.verify(token)
    await verifier.verify(token)
    expect(fastJwt.verifications).toBe(2)
    expect(verifier.cacheStats()).toMatchObject({ size: 0, maxSize: 0, hits: 0 })
  })

  it('checks a token in full again once jwksCacheMaxAge has passed since its last full check', async () => {
    const verifier = local({ jwksCacheMaxAge: 60 })
    const token = await tokenAt()
    await verifier.verify(token)
    clock.set(59)
    await verifier.verify(token)
    expect(fastJwt.verifications).toBe(1)
    clock.set(60)
    await verifier.verify(token)
    expect(fastJwt.verifications).toBe(2)
    clock.set(61)
    await verifier.verify(token)
    expect(fastJwt.verifications).toBe(2)
    expect(verifier.cacheStats()).toMatchObject({ size: 1, hits: 2, misses: 2 })
  })

  it('refuses a cached token when the clock gives an invalid date', async () => {
    let broken = false
    const verifier = local({ clock: { now: () => (broken ? new Date(Number.NaN) : START) } })
    const token = await tokenAt()
    await verifier.verify(token)
    broken = true
    expect((await authError(verifier.verify(token))).code).toBe('TOKEN_INVALID')
  })

  it('never remembers a failure: a forged token costs a full check each time', async () => {
    const verifier = local()
    const forged = withBrokenSignature(await tokenAt())
    for (let i = 0; i < 2; i++) {
      const error = await authError(verifier.verify(forged))
      expect(error.code).toBe('TOKEN_INVALID')
      expect(error.cause).toMatchObject({ code: 'FAST_JWT_INVALID_SIGNATURE' })
    }
    expect(fastJwt.verifications).toBe(2)
    expect(verifier.cacheStats()).toMatchObject({ size: 0, hits: 0, misses: 2 })
  })

  it('never remembers a token isRevoked refused, nor an expired one', async () => {
    const verifier = local({ isRevoked: (claims) => claims.jti === 'revoked' })
    const revoked = await tokenAt({ jti: 'revoked' })
    const expired = await tokenAt({ iat: epoch(START) - 1000, exp: epoch(START) - 100 })
    for (let i = 0; i < 2; i++) {
      expect((await authError(verifier.verify(revoked))).code).toBe('TOKEN_INVALID')
      expect((await authError(verifier.verify(expired))).code).toBe('TOKEN_EXPIRED')
    }
    expect(fastJwt.verifications).toBe(4)
    expect(verifier.cacheStats().size).toBe(0)
  })

  it('vouches only for the exact token string: the same payload with a changed claim is checked in full', async () => {
    const verifier = local()
    const token = await tokenAt()
    await verifier.verify(token)
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload
    const tampered = withPayload(token, { ...claims, roles: ['admin'] })
    expect((await authError(verifier.verify(tampered))).code).toBe('TOKEN_INVALID')
    expect(fastJwt.verifications).toBe(2)
    // the tampered token ends like the genuine one: the genuine one still answers from the cache
    expect((await verifier.verify(token)).roles).toEqual(['user'])
    expect(fastJwt.verifications).toBe(2)
  })

  it('copies nested custom claims too, so an edit deep in req.auth reaches no later request', async () => {
    const verifier = local()
    const token = await tokenAt({ org: { id: 'acme', teams: ['a'] }, grants: [{ scope: 'read' }] })
    for (let i = 0; i < 2; i++) {
      const claims = await verifier.verify(token)
      expect(claims.org).toEqual({ id: 'acme', teams: ['a'] })
      expect(claims.grants).toEqual([{ scope: 'read' }])
      ;(claims.org as { teams: string[] }).teams.push('b')
      ;(claims.grants as { scope: string }[])[0] = { scope: 'write' }
    }
    expect(fastJwt.verifications).toBe(1)
  })

  it('keeps a "__proto__" claim an own property on every copy, never a prototype', async () => {
    const verifier = local()
    const claims = JSON.parse(
      `{"__proto__":["admin"],"iss":"${ISSUER}","aud":"tessera","sub":"u","iat":${epoch(START)},"exp":${epoch(START) + 900}}`,
    ) as JWTPayload
    const token = handSigned({ alg: 'RS256', kid: KID, typ: 'at+jwt' }, claims)
    for (let i = 0; i < 2; i++) {
      const verified = await verifier.verify(token)
      expect(Object.getPrototypeOf(verified)).toBe(Object.prototype)
      expect(Object.getOwnPropertyDescriptor(verified, '__proto__')?.value).toEqual(['admin'])
    }
    expect(fastJwt.verifications).toBe(1)
  })

  it.each([
    ['a bad value', -1],
    ['a fraction', 1.5],
    ['a string', '100'],
  ])('throws a TypeError at setup for a cacheSize that is %s', (_name, cacheSize) => {
    expect(() => local({ cacheSize: cacheSize as number })).toThrow(/cacheSize must be a whole number/)
  })
})

describe('the fast verification path', () => {
  const refused: Array<[string, () => Promise<string>, string]> = [
    ['typ JWT', () => tokenAt({}, { typ: 'JWT' }), 'FAST_JWT_INVALID_TYPE'],
    ['no typ', () => tokenAt({}, { typ: undefined }), 'FAST_JWT_INVALID_TYPE'],
    ['another issuer', () => tokenAt({ iss: 'https://attacker.example' }), 'FAST_JWT_INVALID_CLAIM_VALUE'],
    ['another audience', () => tokenAt({ aud: 'billing' }), 'FAST_JWT_INVALID_CLAIM_VALUE'],
    [
      'an audience list without ours',
      () => tokenAt({ aud: ['billing', 'crm'] }),
      'FAST_JWT_INVALID_CLAIM_VALUE',
    ],
    ['an issuer that is a list', () => tokenAt({ iss: [ISSUER] as never }), 'FAST_JWT_INVALID_CLAIM_VALUE'],
    ['no aud', () => tokenAt({ aud: undefined }), 'FAST_JWT_MISSING_REQUIRED_CLAIM'],
    ['no exp', () => tokenAt({ exp: undefined }), 'FAST_JWT_MISSING_REQUIRED_CLAIM'],
    [
      'an exp that is a string',
      () => tokenAt({ exp: String(epoch(START) + 900) as never }),
      'FAST_JWT_INVALID_CLAIM_TYPE',
    ],
    ['nbf in the future', () => tokenAt({ nbf: epoch(START) + 1 }), 'FAST_JWT_INACTIVE'],
    [
      'an unknown crit extension',
      async () =>
        handSigned(
          { alg: 'RS256', kid: KID, typ: 'at+jwt', crit: ['urn:example:ext'], 'urn:example:ext': 1 },
          accessClaims(ISSUER, { iat: epoch(START), exp: epoch(START) + 900 }),
        ),
      'FAST_JWT_INVALID_CRIT_HEADER',
    ],
    [
      'alg none',
      async () => unsecuredToken({ alg: 'none', kid: KID, typ: 'at+jwt' }, accessClaims(ISSUER)),
      'FAST_JWT_INVALID_ALGORITHM',
    ],
  ]

  it.each(refused)(
    'refuses a token with %s as TOKEN_INVALID, with the check as cause',
    async (_name, forge, code) => {
      const verifier = local()
      const token = await forge()
      const error = await authError(verifier.verify(token))
      expect(error.code).toBe('TOKEN_INVALID')
      expect(error.cause).toMatchObject({ code })
      expect(verifier.cacheStats().size).toBe(0)
    },
  )

  it('refuses an algorithm left out of the allow-list before looking up a key', async () => {
    const verifier = local({ algorithms: ['ES256'] })
    const error = await authError(verifier.verify(await tokenAt()))
    expect(error.cause).toMatchObject({ code: 'FAST_JWT_INVALID_ALGORITHM' })
    expect(fastJwt.verifications).toBe(0)
  })

  it('refuses a jwk header even with a genuine signature', async () => {
    const error = await authError(
      local().verify(await tokenAt({}, { jwk: { kty: 'RSA', n: publicJwk.n, e: 'AQAB' } })),
    )
    expect(error.code).toBe('TOKEN_INVALID')
    expect(fastJwt.verifications).toBe(0)
  })

  it('says TOKEN_EXPIRED only after the signature held', async () => {
    const expired = await tokenAt({ iat: epoch(START) - 1000, exp: epoch(START) - 100 })
    expect((await authError(local().verify(expired))).code).toBe('TOKEN_EXPIRED')
    expect((await authError(local().verify(withBrokenSignature(expired)))).code).toBe('TOKEN_INVALID')
    // an expired token with a wrong audience is invalid, not expired
    const elsewhere = await tokenAt({ aud: 'billing', iat: epoch(START) - 1000, exp: epoch(START) - 100 })
    expect((await authError(local().verify(elsewhere))).code).toBe('TOKEN_INVALID')
  })
})
