import { generateKeyPairSync, sign as signBytes } from 'node:crypto'
import {
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  errors as joseErrors,
} from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { createVerifier, TesseraAuthError, type VerifierOptions } from '../src/index.js'
import { freePort } from './helpers/tessera.js'
import { accessClaims, b64url, epoch, hmacToken, sign, withBrokenSignature } from './helpers/tokens.js'

const ISSUER = 'https://auth.example.com'
const SECRET = 'a-shared-hs256-secret-of-at-least-32-bytes'

let privateKey: CryptoKey
let publicJwk: JWK
const KID = 'key-1'

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'RS256', use: 'sig' }
})

const build = (options: unknown) => createVerifier(options as VerifierOptions)
const local = (options: Partial<VerifierOptions> = {}) =>
  createVerifier({ issuer: ISSUER, audience: 'tessera', jwks: { keys: [publicJwk] }, ...options })
const signed = (claims: JWTPayload = accessClaims(ISSUER), typ = 'at+jwt') =>
  sign(claims, { alg: 'RS256', kid: KID, typ }, privateKey)

/** The error `promise` rejects with, which must be a TesseraAuthError. */
async function authError(promise: Promise<unknown>): Promise<TesseraAuthError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraAuthError)
  return error as TesseraAuthError
}

/** A fetch double answering URLs from a table, 404 otherwise; records the URLs asked for. */
function fakeFetch(routes: Record<string, () => Response>) {
  const calls: string[] = []
  const fetch = async (url: string) => {
    calls.push(url)
    return routes[url]?.() ?? new Response('not found', { status: 404 })
  }
  return { fetch, calls }
}

describe('createVerifier options', () => {
  const valid = { issuer: ISSUER, audience: 'tessera' }
  const bad: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /options are required/],
    ['no issuer', { audience: 'tessera' }, /issuer is required/],
    [
      'an issuer that is not a URL',
      { ...valid, issuer: 'tessera' },
      /issuer must be an absolute http\(s\) URL/,
    ],
    ['an issuer that is not http(s)', { ...valid, issuer: 'ftp://auth.example.com' }, /http\(s\)/],
    ['an issuer with a trailing slash', { ...valid, issuer: `${ISSUER}/` }, /trailing slash/],
    ['an issuer with a query', { ...valid, issuer: `${ISSUER}?a=1` }, /query/],
    ['no audience', { issuer: ISSUER }, /audience is required/],
    ['an empty audience list', { ...valid, audience: [] }, /audience is required/],
    ['two key sources', { ...valid, jwksUrl: `${ISSUER}/jwks`, secret: SECRET }, /one key source/],
    ['a jwksUrl that is not http(s)', { ...valid, jwksUrl: 'file:///etc/jwks.json' }, /jwksUrl/],
    ['a secret of 31 bytes', { ...valid, secret: 'x'.repeat(31) }, /at least 32 bytes, got 31/],
    ['a secret of 31 bytes as bytes', { ...valid, secret: new Uint8Array(31) }, /at least 32 bytes/],
    ['a secret of 10 two-byte characters', { ...valid, secret: 'é'.repeat(10) }, /at least 32 bytes, got 20/],
    ['an empty key set', { ...valid, jwks: { keys: [] } }, /at least one key/],
    [
      'a private key in the key set',
      { ...valid, jwks: { keys: [{ kty: 'RSA', n: 'x', e: 'AQAB', d: 'y' }] } },
      /public keys only/,
    ],
    ['algorithm none', { ...valid, algorithms: ['none'] }, /must not contain "none"/],
    ['algorithm NONE', { ...valid, algorithms: ['RS256', 'NONE'] }, /must not contain "none"/],
    ['HS256 mixed with RS256', { ...valid, secret: SECRET, algorithms: ['HS256', 'RS256'] }, /must not mix/],
    ['HS256 with a JWKS', { ...valid, algorithms: ['HS256'] }, /HS256 needs the shared secret/],
    [
      'RS256 with a secret',
      { ...valid, secret: SECRET, algorithms: ['RS256'] },
      /secret verifies HS256 only/,
    ],
    ['no algorithms', { ...valid, algorithms: [] }, /non-empty list/],
    ['an unsupported algorithm', { ...valid, algorithms: ['PS256'] }, /unsupported "PS256"/],
    [
      'a clock leeway over 5 s',
      { ...valid, clockTolerance: 6 },
      /clockTolerance must be a number of seconds from 0 to 5/,
    ],
    ['a negative clock leeway', { ...valid, clockTolerance: -1 }, /clockTolerance/],
    ['a clock leeway that is not a number', { ...valid, clockTolerance: '5s' }, /clockTolerance/],
    ['a NaN cooldown', { ...valid, jwksCooldown: Number.NaN }, /jwksCooldown/],
    ['a zero timeout', { ...valid, timeout: 0 }, /timeout must be more than 0/],
    ['requiredClaims that are not a list', { ...valid, requiredClaims: 'sid' }, /requiredClaims/],
    ['an isRevoked that is not a function', { ...valid, isRevoked: true }, /isRevoked must be a function/],
    ['a clock without now()', { ...valid, clock: {} }, /clock must be an object/],
  ]

  it.each(bad)('throws a TypeError at once for %s', (_name, options, message) => {
    expect(() => build(options)).toThrow(TypeError)
    expect(() => build(options)).toThrow(message)
  })

  it('accepts the largest leeway, a secret of exactly 32 bytes, and an audience list', () => {
    expect(() => build({ ...valid, clockTolerance: 5 })).not.toThrow()
    expect(() => build({ ...valid, secret: 'x'.repeat(32) })).not.toThrow()
    expect(() => build({ ...valid, audience: ['tessera', 'api'] })).not.toThrow()
  })
})

describe('verify', () => {
  it('returns typed claims, with roles [] when the token has none', async () => {
    const { roles: _roles, ...claims } = accessClaims(ISSUER, { sub: 'user-1' })
    const verified = await local().verify(await signed(claims))
    expect(verified).toMatchObject({ sub: 'user-1', roles: [], iss: ISSUER, aud: 'tessera' })
    expect(verified.email).toBe('ada@example.com')
  })

  it('accepts the application/at+jwt spelling of the typ and any audience of a list', async () => {
    const token = await signed(accessClaims(ISSUER, { aud: 'api' }), 'application/at+jwt')
    await expect(local({ audience: ['tessera', 'api'] }).verify(token)).resolves.toMatchObject({ aud: 'api' })
    expect((await authError(local().verify(token))).code).toBe('TOKEN_INVALID')
  })

  it('says TOKEN_MISSING for an empty token', async () => {
    const error = await authError(local().verify(''))
    expect(error).toMatchObject({ code: 'TOKEN_MISSING', status: 401 })
  })

  it('keeps the failed check as cause and says nothing about it in the message', async () => {
    const error = await authError(local().verify(await signed(accessClaims(ISSUER, { aud: 'billing' }))))
    expect(error).toMatchObject({ code: 'TOKEN_INVALID', status: 401, keysUnavailable: false })
    expect(error.cause).toMatchObject({ code: 'FAST_JWT_INVALID_CLAIM_VALUE' })
    expect(error.message).not.toMatch(/aud/)
  })

  it('allows no clock leeway by default, and up to clockTolerance seconds when set', async () => {
    const now = new Date('2030-01-01T00:00:00Z')
    const clock = { now: () => now }
    const token = await signed(accessClaims(ISSUER, { iat: epoch(now) - 903, exp: epoch(now) - 3 }))
    const expired = await authError(local({ clock }).verify(token))
    expect(expired.code).toBe('TOKEN_EXPIRED')
    expect(expired.cause).toMatchObject({ code: 'FAST_JWT_EXPIRED' })
    await expect(local({ clock, clockTolerance: 5 }).verify(token)).resolves.toMatchObject({ iss: ISSUER })
    expect((await authError(local({ clock, clockTolerance: 2 }).verify(token))).code).toBe('TOKEN_EXPIRED')
  })

  it('refuses a token issued in the future, beyond clockTolerance plus one second', async () => {
    const now = new Date('2030-01-01T00:00:00Z')
    const clock = { now: () => now }
    const token = await signed(accessClaims(ISSUER, { iat: epoch(now) + 3, exp: epoch(now) + 903 }))
    const error = await authError(local({ clock }).verify(token))
    expect(error.code).toBe('TOKEN_INVALID')
    expect(error.cause).toMatchObject({ code: 'FAST_JWT_INVALID_CLAIM_VALUE' })
    await expect(local({ clock, clockTolerance: 2 }).verify(token)).resolves.toMatchObject({ iss: ISSUER })
    expect((await authError(local({ clock, clockTolerance: 1 }).verify(token))).code).toBe('TOKEN_INVALID')
  })

  it('accepts an iat one second ahead with no tolerance: Tessera dates a token after a user change up to 1 s ahead', async () => {
    const now = new Date('2030-01-01T00:00:00.900Z')
    const clock = { now: () => now }
    // after a user event with notBefore N, the server issues iat = max(now, N), N the next second
    const ahead = await signed(accessClaims(ISSUER, { iat: epoch(now) + 1, exp: epoch(now) + 901 }))
    await expect(local({ clock }).verify(ahead)).resolves.toMatchObject({ iat: epoch(now) + 1 })
    const twoAhead = await signed(accessClaims(ISSUER, { iat: epoch(now) + 2, exp: epoch(now) + 902 }))
    expect((await authError(local({ clock }).verify(twoAhead))).code).toBe('TOKEN_INVALID')
  })

  it('requires the claims of requiredClaims on top of the defaults', async () => {
    const { sid: _sid, ...withoutSid } = accessClaims(ISSUER)
    const token = await signed(withoutSid)
    await expect(local().verify(token)).resolves.toMatchObject({ iss: ISSUER })
    expect((await authError(local({ requiredClaims: ['sid'] }).verify(token))).code).toBe('TOKEN_INVALID')
    const { exp: _exp, ...withoutExp } = accessClaims(ISSUER)
    // exp stays required even when requiredClaims does not name it
    expect((await authError(local({ requiredClaims: ['sid'] }).verify(await signed(withoutExp)))).code).toBe(
      'TOKEN_INVALID',
    )
  })

  it('rejects a token isRevoked flags, and passes its failure on unchanged', async () => {
    const token = await signed(accessClaims(ISSUER, { jti: 'revoked-jti' }))
    const revoked = local({ isRevoked: async (claims) => claims.jti === 'revoked-jti' })
    expect((await authError(revoked.verify(token))).code).toBe('TOKEN_INVALID')
    await expect(local({ isRevoked: () => false }).verify(token)).resolves.toMatchObject({
      jti: 'revoked-jti',
    })
    const outage = new Error('deny-list unreachable')
    await expect(
      local({
        isRevoked: () => {
          throw outage
        },
      }).verify(token),
    ).rejects.toBe(outage)
  })
})

describe('ES256 and EdDSA keys', () => {
  const cases = [
    ['ES256', 'es-key'],
    ['EdDSA', 'ed-key'],
  ] as const

  it.each(cases)('verifies %s tokens and refuses them tampered or under another alg', async (alg, kid) => {
    const pair = await generateKeyPair(alg, { extractable: true })
    const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' }
    const verifier = local({ jwks: { keys: [publicJwk, jwk] } })
    const token = await sign(
      accessClaims(ISSUER, { sub: `${alg}-user` }),
      { alg, kid, typ: 'at+jwt' },
      pair.privateKey,
    )
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: `${alg}-user` })
    // the signature is raw (r||s for ES256), as JOSE has it: one changed byte breaks it
    expect((await authError(verifier.verify(withBrokenSignature(token)))).code).toBe('TOKEN_INVALID')
    // the same kid under RS256 finds no key of that type
    const confused = await sign(accessClaims(ISSUER), { alg: 'RS256', kid, typ: 'at+jwt' }, privateKey)
    const error = await authError(verifier.verify(confused))
    expect(error.cause).toBeInstanceOf(joseErrors.JWKSNoMatchingKey)
  })

  it('refuses an ES256 signature in DER form, which JWS does not use', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'es-der', alg: 'ES256' }
    const input = `${b64url({ alg: 'ES256', kid: 'es-der', typ: 'at+jwt' })}.${b64url(accessClaims(ISSUER))}`
    const der = signBytes('sha256', Buffer.from(input), pair.privateKey).toString('base64url')
    const raw = signBytes('sha256', Buffer.from(input), { key: pair.privateKey, dsaEncoding: 'ieee-p1363' })
    const verifier = local({ jwks: { keys: [jwk] } })
    await expect(verifier.verify(`${input}.${raw.toString('base64url')}`)).resolves.toMatchObject({
      iss: ISSUER,
    })
    expect((await authError(verifier.verify(`${input}.${der}`))).code).toBe('TOKEN_INVALID')
  })
})

describe('HS256 with a shared secret', () => {
  const hs = () => createVerifier({ issuer: ISSUER, audience: 'tessera', secret: SECRET })

  it('verifies a token signed with the secret', async () => {
    const token = await sign(
      accessClaims(ISSUER, { sub: 'hs-user' }),
      { alg: 'HS256', kid: 'hs', typ: 'at+jwt' },
      new TextEncoder().encode(SECRET),
    )
    await expect(hs().verify(token)).resolves.toMatchObject({ sub: 'hs-user' })
  })

  it('rejects another secret and every asymmetric token', async () => {
    const other = hmacToken({ alg: 'HS256', typ: 'at+jwt' }, accessClaims(ISSUER), `${SECRET}-other`)
    expect((await authError(hs().verify(other))).code).toBe('TOKEN_INVALID')
    const error = await authError(hs().verify(await signed()))
    expect(error.cause).toMatchObject({ code: 'FAST_JWT_INVALID_ALGORITHM' })
  })
})

describe('remote keys', () => {
  const jwksUrl = `${ISSUER}/.well-known/jwks.json`
  const discoveryUrl = `${ISSUER}/.well-known/openid-configuration`
  const json = (body: unknown) => () => Response.json(body)

  it('marks an unreachable JWKS as keysUnavailable, keeping the network error as cause', async () => {
    const port = await freePort()
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: 'tessera',
      jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    })
    const error = await authError(verifier.verify(await signed()))
    expect(error).toMatchObject({ code: 'TOKEN_INVALID', status: 401, keysUnavailable: true })
    expect(error.cause).toBeInstanceOf(Error)
    expect(error.cause).not.toBeInstanceOf(TesseraAuthError)
  })

  it('marks a JWKS endpoint answering 500 as keysUnavailable, but not an unknown kid', async () => {
    const broken = fakeFetch({ [jwksUrl]: () => new Response('oops', { status: 500 }) })
    const down = createVerifier({ issuer: ISSUER, audience: 'tessera', jwksUrl, fetch: broken.fetch })
    expect(await authError(down.verify(await signed()))).toMatchObject({ keysUnavailable: true })

    const working = fakeFetch({ [jwksUrl]: json({ keys: [{ ...publicJwk, kid: 'another' }] }) })
    const up = createVerifier({ issuer: ISSUER, audience: 'tessera', jwksUrl, fetch: working.fetch })
    const error = await authError(up.verify(await signed()))
    expect(error).toMatchObject({ code: 'TOKEN_INVALID', keysUnavailable: false })
    expect(error.cause).toBeInstanceOf(joseErrors.JWKSNoMatchingKey)
  })

  it('discovers the JWKS lazily, once, and refuses a document naming another issuer', async () => {
    const good = fakeFetch({
      [discoveryUrl]: json({ issuer: ISSUER, jwks_uri: jwksUrl }),
      [jwksUrl]: json({ keys: [publicJwk] }),
    })
    const verifier = createVerifier({ issuer: ISSUER, audience: 'tessera', fetch: good.fetch })
    expect(good.calls).toEqual([])
    await verifier.verify(await signed())
    await verifier.verify(await signed())
    expect(good.calls).toEqual([discoveryUrl, jwksUrl])

    const impostor = fakeFetch({
      [discoveryUrl]: json({ issuer: 'https://attacker.example', jwks_uri: jwksUrl }),
      [jwksUrl]: json({ keys: [publicJwk] }),
    })
    const fooled = createVerifier({
      issuer: ISSUER,
      audience: 'tessera',
      fetch: impostor.fetch,
      logger: false,
    })
    const error = await authError(fooled.verify(await signed()))
    expect(error).toMatchObject({ code: 'TOKEN_INVALID', keysUnavailable: true })
    expect(String(error.cause)).toMatch(/attacker\.example/)
    expect(impostor.calls).not.toContain(jwksUrl)
  })

  it('warns once, naming both issuers, when the discovery document names another issuer', async () => {
    const other = 'http://localhost:3000'
    const mismatched = fakeFetch({
      [discoveryUrl]: json({ issuer: other, jwks_uri: jwksUrl }),
      [jwksUrl]: json({ keys: [publicJwk] }),
    })
    const warnings: string[] = []
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: 'tessera',
      fetch: mismatched.fetch,
      logger: { warn: (message) => warnings.push(message) },
    })
    for (let i = 0; i < 3; i++) {
      expect(await authError(verifier.verify(await signed()))).toMatchObject({
        code: 'TOKEN_INVALID',
        status: 401,
        keysUnavailable: true,
      })
    }
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(`"${other}"`)
    expect(warnings[0]).toContain(`"${ISSUER}"`)
    expect(warnings[0]).toContain('TESSERA_PUBLIC_URL')
    expect(() => createVerifier({ issuer: ISSUER, audience: 'tessera', logger: {} as never })).toThrow(
      /logger/,
    )
  })

  it('tries discovery again on the next verify after a failure', async () => {
    let up = false
    const flaky = fakeFetch({
      [discoveryUrl]: () =>
        up ? Response.json({ issuer: ISSUER, jwks_uri: jwksUrl }) : new Response('starting', { status: 503 }),
      [jwksUrl]: json({ keys: [publicJwk] }),
    })
    const verifier = createVerifier({ issuer: ISSUER, audience: 'tessera', fetch: flaky.fetch })
    expect(await authError(verifier.verify(await signed()))).toMatchObject({ keysUnavailable: true })
    up = true
    await expect(verifier.verify(await signed())).resolves.toMatchObject({ iss: ISSUER })
  })
})
