import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { exportJWK, type JWK, type JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authorize as expressAuthorize } from '../src/express.js'
import { authorize as fastifyAuthorize } from '../src/fastify.js'
import { AUTH_ERRORS, TesseraAuthError } from '../src/index.js'
import { bearer, type HttpResult, type RunningApp } from './helpers/apps.js'
import { expectProblem } from './helpers/expect.js'
import { STEP_UP_FRAMEWORKS } from './helpers/step-up-apps.js'
import { PASSWORD, type RunningTessera, startTessera } from './helpers/tessera.js'
import { accessClaims, sign } from './helpers/tokens.js'

const ISSUER = 'https://auth.example.com'
const KID = 'key-1'
const START = new Date('2030-01-01T00:00:00Z')
const START_S = START.getTime() / 1000

const PASSWORD_ONLY = { amr: ['pwd'], acr: 'urn:tessera:pwd' }
const WITH_MFA = { amr: ['pwd', 'otp', 'mfa'], acr: 'urn:tessera:mfa' }

const BOTH = 'A recent sign-in with a second factor is required'
const challenge = (description: string, params: string) =>
  `Bearer realm="tessera", error="insufficient_user_authentication", error_description="${description}"${params}`

let privateKey: KeyObject
let publicJwk: JWK

beforeAll(async () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'RS256', use: 'sig' }
})

/** The verifier's clock, which the test moves: `set(seconds)` puts it that many seconds after START. */
const clock = (() => {
  let now = START
  return {
    now: () => now,
    set(seconds: number) {
      now = new Date(START.getTime() + seconds * 1000)
    },
  }
})()

/** A token issued at the clock's current time, signed in `signedInAgo` seconds before it. */
function token(overrides: JWTPayload & { signedInAgo?: number } = {}): Promise<string> {
  const { signedInAgo = 0, ...claims } = overrides
  const iat = Math.floor(clock.now().getTime() / 1000)
  return sign(
    accessClaims(ISSUER, { iat, exp: iat + 900, auth_time: iat - signedInAgo, ...claims }),
    { alg: 'RS256', kid: KID, typ: 'at+jwt' },
    privateKey,
  )
}

/** A 401 STEP_UP_REQUIRED problem with exactly `expected` as its challenge. */
function expectStepUp(result: HttpResult, expected: string): void {
  expect(result.status, result.text).toBe(401)
  expect(result.headers.get('content-type')).toMatch(/^application\/problem\+json\b/)
  expect(result.body).toEqual({
    type: 'about:blank',
    title: 'Unauthorized',
    status: 401,
    code: 'STEP_UP_REQUIRED',
    detail: AUTH_ERRORS.STEP_UP_REQUIRED.detail,
  })
  expect(result.headers.get('www-authenticate')).toBe(expected)
}

describe.each(STEP_UP_FRAMEWORKS)('$framework authorize with step-up (RFC 9470)', ({ start }) => {
  let app: RunningApp

  beforeAll(async () => {
    clock.set(0)
    app = await start({ issuer: ISSUER, audience: 'tessera', jwks: { keys: [publicJwk] }, clock })
  })
  afterAll(async () => {
    await app?.close()
  })

  describe('authorize({ mfa: true, maxAge: 300 })', () => {
    it('refuses a password-only token with 401 STEP_UP_REQUIRED and the RFC 9470 challenge', async () => {
      clock.set(0)
      const result = await app.get('/payouts', bearer(await token(PASSWORD_ONLY)))
      expectStepUp(result, challenge(BOTH, ', acr_values="urn:tessera:mfa", max_age="300"'))
    })

    it('refuses an mfa token whose auth_time is more than 300 seconds old', async () => {
      clock.set(0)
      const result = await app.get('/payouts', bearer(await token({ ...WITH_MFA, signedInAgo: 301 })))
      expectStepUp(result, challenge(BOTH, ', acr_values="urn:tessera:mfa", max_age="300"'))
    })

    it('accepts an mfa token signed in at most 300 seconds ago, by the clock it was given', async () => {
      clock.set(0)
      const recent = await token({ ...WITH_MFA, signedInAgo: 0 })
      let result = await app.get('/payouts', bearer(recent))
      expect(result.status, result.text).toBe(200)
      expect(result.body?.auth).toMatchObject({ ...WITH_MFA, auth_time: START_S })

      clock.set(300)
      result = await app.get('/payouts', bearer(recent))
      expect(result.status, result.text).toBe(200)

      // the same token, still valid, once its sign-in is too old
      clock.set(301)
      result = await app.get('/payouts', bearer(recent))
      expectStepUp(result, challenge(BOTH, ', acr_values="urn:tessera:mfa", max_age="300"'))
    })

    it('carries the app metadata claim as auth.app, and refuses an app claim that is not an object', async () => {
      clock.set(0)
      const app_ = { plan: 'pro', tenant: 't-42' }
      const withApp = await app.get('/mfa', bearer(await token({ ...WITH_MFA, app: app_ })))
      expect(withApp.status, withApp.text).toBe(200)
      expect(withApp.body?.auth).toMatchObject({ app: app_ })
      const notAnObject = await app.get('/mfa', bearer(await token({ ...WITH_MFA, app: ['pro'] })))
      expect(notAnObject.status).toBe(401)
    })

    it('refuses a token without auth_time', async () => {
      clock.set(0)
      const result = await app.get('/payouts', bearer(await token({ ...WITH_MFA, auth_time: undefined })))
      expectStepUp(result, challenge(BOTH, ', acr_values="urn:tessera:mfa", max_age="300"'))
    })
  })

  describe('authorize({ maxAge }) alone', () => {
    it('accepts a recent password-only sign-in and asks only for max_age when it is old', async () => {
      clock.set(0)
      expect((await app.get('/recent', bearer(await token(PASSWORD_ONLY)))).status).toBe(200)
      const old = await app.get('/recent', bearer(await token({ ...PASSWORD_ONLY, signedInAgo: 600 })))
      expectStepUp(old, challenge('A more recent sign-in is required', ', max_age="300"'))
    })
  })

  describe('authorize({ mfa: true }) alone', () => {
    it('asks only for acr_values, whatever the age of the sign-in', async () => {
      clock.set(0)
      const result = await app.get('/mfa', bearer(await token(PASSWORD_ONLY)))
      expectStepUp(result, challenge('A second factor is required', ', acr_values="urn:tessera:mfa"'))
      const old = await app.get('/mfa', bearer(await token({ ...WITH_MFA, signedInAgo: 86_400 })))
      expect(old.status, old.text).toBe(200)
    })

    it('takes acr urn:tessera:mfa or an amr holding mfa as a second factor', async () => {
      clock.set(0)
      const byAcr = await app.get('/mfa', bearer(await token({ acr: 'urn:tessera:mfa' })))
      expect(byAcr.status, byAcr.text).toBe(200)
      const byAmr = await app.get('/mfa', bearer(await token({ amr: ['hwk', 'user', 'mfa'] })))
      expect(byAmr.status, byAmr.text).toBe(200)
      const otpOnly = await app.get('/mfa', bearer(await token({ amr: ['otp'], acr: 'urn:tessera:pwd' })))
      expect(otpOnly.status).toBe(401)
    })

    it('refuses a token whose amr, acr or auth_time has the wrong type as TOKEN_INVALID', async () => {
      clock.set(0)
      for (const claims of [{ amr: 'mfa' }, { amr: [1] }, { acr: 2 }, { auth_time: '1700000000' }]) {
        expectProblem(await app.get('/mfa', bearer(await token(claims))), 'TOKEN_INVALID')
      }
    })
  })

  describe('roles with mfa', () => {
    it('answers 403 FORBIDDEN without the role before asking for a step-up', async () => {
      clock.set(0)
      expectProblem(await app.get('/admin-mfa', bearer(await token(PASSWORD_ONLY))), 'FORBIDDEN')
    })

    it('asks an admin without a second factor to step up, and lets one with it through', async () => {
      clock.set(0)
      const admin = { roles: ['admin'] }
      const result = await app.get('/admin-mfa', bearer(await token({ ...admin, ...PASSWORD_ONLY })))
      expectStepUp(result, challenge('A second factor is required', ', acr_values="urn:tessera:mfa"'))
      const stepped = await app.get('/admin-mfa', bearer(await token({ ...admin, ...WITH_MFA })))
      expect(stepped.status, stepped.text).toBe(200)
    })

    it('keeps the string form authorize("admin") working', async () => {
      clock.set(0)
      expectProblem(await app.get('/admin', bearer(await token())), 'FORBIDDEN')
      expect((await app.get('/admin', bearer(await token({ roles: ['admin'] })))).status).toBe(200)
    })
  })
})

describe.each([
  { framework: 'Express', authorize: expressAuthorize },
  { framework: 'Fastify', authorize: fastifyAuthorize },
])('$framework authorize options', ({ authorize }) => {
  const build = authorize as (...args: unknown[]) => unknown

  it.each([
    ['no requirement', {}],
    ['mfa: false alone', { mfa: false }],
    ['a misspelt option', { maxage: 300 }],
    ['maxAge 0', { maxAge: 0 }],
    ['a negative maxAge', { maxAge: -5 }],
    ['a fractional maxAge', { maxAge: 1.5 }],
    ['maxAge as a string', { maxAge: '300' }],
    ['mfa as a string', { mfa: 'yes' }],
    ['an empty roles list', { roles: [] }],
    ['roles as a string', { roles: 'admin' }],
    ['a clock without now()', { mfa: true, clock: {} }],
  ])('throws a TypeError at setup for %s', (_name, options) => {
    expect(() => build(options)).toThrow(TypeError)
  })

  it('throws for no role names, as before', () => {
    expect(() => build()).toThrow(TypeError)
    expect(() => build('')).toThrow(TypeError)
  })
})

describe('TesseraAuthError for a step-up', () => {
  it('carries the requirements as stepUp, for an onError handler', () => {
    const error = new TesseraAuthError('STEP_UP_REQUIRED', {
      stepUp: { acrValues: ['urn:tessera:mfa'], maxAge: 300 },
    })
    expect(error).toMatchObject({
      code: 'STEP_UP_REQUIRED',
      status: 401,
      stepUp: { acrValues: ['urn:tessera:mfa'], maxAge: 300 },
    })
  })
})

describe.each(STEP_UP_FRAMEWORKS)('$framework step-up against a running Tessera', ({ start }) => {
  let server: RunningTessera
  let app: RunningApp

  beforeAll(async () => {
    server = await startTessera()
    app = await start({ issuer: server.url, audience: 'tessera', clock: { now: () => new Date() } })
  })
  afterAll(async () => {
    await app?.close()
    await server?.close()
  })

  it('refuses a password sign-in from 10 minutes ago, and accepts it for maxAge after /auth/mfa/step-up', async () => {
    // signed in 600 s ago by the server's clock: the token (900 s) is still valid, its auth_time old
    server.clock.shift(-600)
    const user = await server.register()
    server.clock.shift(0)

    const old = await app.get('/recent', bearer(user.accessToken))
    expectStepUp(old, challenge('A more recent sign-in is required', ', max_age="300"'))
    const payouts = await app.get('/payouts', bearer(user.accessToken))
    expectStepUp(payouts, challenge(BOTH, ', acr_values="urn:tessera:mfa", max_age="300"'))

    const response = await fetch(`${server.url}/auth/mfa/step-up`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
      body: JSON.stringify({ password: PASSWORD }),
    })
    const text = await response.text()
    expect(response.status, text).toBe(200)
    const { accessToken } = JSON.parse(text) as { accessToken: string }

    const recent = await app.get('/recent', bearer(accessToken))
    expect(recent.status, recent.text).toBe(200)
    expect(recent.body?.auth).toMatchObject({ sub: user.userId, amr: ['pwd'], acr: 'urn:tessera:pwd' })
    // a password meets max_age, never the second factor
    const stillNoFactor = await app.get('/payouts', bearer(accessToken))
    expectStepUp(stillNoFactor, challenge(BOTH, ', acr_values="urn:tessera:mfa", max_age="300"'))
  })
})
