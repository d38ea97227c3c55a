import { hash as bcryptHash } from '@node-rs/bcrypt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  cookiesOf,
  json,
  PASSWORD,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'

let server: TestServer
beforeAll(async () => {
  // the production hasher: its stored parameters and the equal timing of unknown emails are tested here
  server = await startTestServer({}, undefined, { realHasher: true })
})
afterAll(() => server.close())

const post = (url: string, payload: unknown) =>
  server.app.inject({ method: 'POST', url, payload: payload as object })

type UserBody = {
  user: {
    id: string
    email: string
    name: string | null
    roles: string[]
    emailVerified: boolean
    createdAt: string
  }
}

describe('POST /auth/register', () => {
  it('creates the account and answers 201 with the token response', async () => {
    const email = uniqueEmail('ada')
    const response = await post('/auth/register', {
      email,
      password: PASSWORD,
      name: 'Ada Lovelace',
      tokenDelivery: 'body',
    })
    expect(response.statusCode).toBe(201)
    expect(response.headers['cache-control']).toBe('no-store')
    const body = json<
      UserBody & { accessToken: string; tokenType: string; expiresIn: number; refreshToken: string }
    >(response)
    expect(body.user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email,
      name: 'Ada Lovelace',
      roles: ['user'],
      emailVerified: false,
      createdAt: server.clock.now().toISOString(),
      appMetadata: {},
    })
    expect(body.tokenType).toBe('Bearer')
    expect(body.expiresIn).toBe(900)
    expect(body.accessToken.split('.')).toHaveLength(3)
    expect(body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(JSON.stringify(body)).not.toMatch(/argon2|password/i)
  })

  it('stores an argon2id hash with OWASP parameters, never the password', async () => {
    const user = await registerUser(server.app)
    const row = await server.deps.stores.users.findById(user.userId)
    expect(row?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    expect(row?.passwordHash).not.toContain(PASSWORD)
  })

  it('refuses a taken email, whatever its case, spaces or Unicode composition', async () => {
    const base = uniqueEmail('josé').replace('jos', 'JOS')
    await post('/auth/register', { email: base.normalize('NFC'), password: PASSWORD })
    for (const variant of [
      base.toLowerCase(),
      `  ${base.toUpperCase()}  `.replace('É', 'É'),
      base.normalize('NFD'),
    ]) {
      const response = await post('/auth/register', { email: variant, password: PASSWORD })
      expect(response.statusCode).toBe(409)
      expect(json(response).code).toBe('EMAIL_TAKEN')
    }
  })

  it('refuses two parallel registrations of one email but one', async () => {
    const email = uniqueEmail('race')
    const responses = await Promise.all(
      Array.from({ length: 4 }, () => post('/auth/register', { email, password: PASSWORD })),
    )
    const statuses = responses.map((response) => response.statusCode).sort()
    expect(statuses).toEqual([201, 409, 409, 409])
  })

  it('refuses fields a client may not set, naming them, and stores nothing', async () => {
    const email = uniqueEmail()
    const response = await post('/auth/register', {
      email,
      password: PASSWORD,
      roles: ['admin'],
      id: '00000000-0000-0000-0000-000000000000',
      emailVerified: true,
    })
    expect(response.statusCode).toBe(400)
    const body = json<{ code: string; errors: { field: string }[] }>(response)
    expect(body.code).toBe('VALIDATION_FAILED')
    expect(body.errors.map((error) => error.field).sort()).toEqual(['emailVerified', 'id', 'roles'])
    expect(await server.deps.stores.users.findByEmail(email)).toBeUndefined()
  })

  it.each([
    ['a missing email', { password: PASSWORD }, 'email'],
    ['a missing password', { email: 'x@example.com' }, 'password'],
    ['a malformed email', { email: 'not-an-email', password: PASSWORD }, 'email'],
    [
      'an email over 254 characters',
      { email: `${'a'.repeat(250)}@example.com`, password: PASSWORD },
      'email',
    ],
    ['a password under 8 characters', { email: 'x@example.com', password: 'short12' }, 'password'],
    ['a password over 256 characters', { email: 'x@example.com', password: 'p'.repeat(257) }, 'password'],
    ['a number as email', { email: 42, password: PASSWORD }, 'email'],
    [
      'an unknown tokenDelivery',
      { email: 'x@example.com', password: PASSWORD, tokenDelivery: 'header' },
      'tokenDelivery',
    ],
  ])('answers VALIDATION_FAILED for %s, naming the field', async (_name, payload, field) => {
    const response = await post('/auth/register', payload)
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    const body = json<{ code: string; errors: { field: string; message: string }[] }>(response)
    expect(body.code).toBe('VALIDATION_FAILED')
    expect(body.errors.map((error) => error.field)).toContain(field)
  })

  it('counts password length in characters and follows the configured bounds', async () => {
    const custom = await startTestServer({
      TESSERA_PASSWORD_MIN_LENGTH: '12',
      TESSERA_PASSWORD_MAX_LENGTH: '16',
      // length alone: the strength estimator would refuse these repeated letters
      TESSERA_PASSWORD_MIN_SCORE: '0',
    })
    try {
      const at = (password: string) =>
        custom.app.inject({
          method: 'POST',
          url: '/auth/register',
          payload: { email: uniqueEmail(), password },
        })
      expect((await at('x'.repeat(11))).statusCode).toBe(400)
      expect((await at('x'.repeat(12))).statusCode).toBe(201)
      expect((await at('é'.repeat(16))).statusCode).toBe(201)
      expect((await at('x'.repeat(17))).statusCode).toBe(400)
    } finally {
      await custom.close()
    }
  })
})

describe('POST /auth/login', () => {
  it('signs in with the right password, whatever the email case', async () => {
    const user = await registerUser(server.app)
    const response = await post('/auth/login', {
      email: `  ${user.email.toUpperCase()} `,
      password: PASSWORD,
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(json<UserBody>(response).user.id).toBe(user.userId)
    expect(cookiesOf(response).get('tessera_refresh')?.httpOnly).toBe(true)
  })

  it('answers an unknown email exactly as a wrong password', async () => {
    const user = await registerUser(server.app)
    const wrong = await post('/auth/login', { email: user.email, password: 'wrong password!' })
    const unknown = await post('/auth/login', { email: uniqueEmail('nobody'), password: 'wrong password!' })
    expect(wrong.statusCode).toBe(401)
    expect(unknown.statusCode).toBe(401)
    expect(wrong.body).toBe(unknown.body)
    expect(json(wrong).code).toBe('INVALID_CREDENTIALS')
    expect(wrong.headers['content-type']).toBe(unknown.headers['content-type'])
  })

  it('spends similar time on an unknown email and a wrong password', async () => {
    const user = await registerUser(server.app)
    const time = async (email: string) => {
      const start = process.hrtime.bigint()
      await post('/auth/login', { email, password: 'wrong password!' })
      return Number(process.hrtime.bigint() - start) / 1e6
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
    const known: number[] = []
    const unknown: number[] = []
    for (let i = 0; i < 7; i++) {
      known.push(await time(user.email))
      unknown.push(await time(uniqueEmail('nobody')))
    }
    // both paths run one argon2 verification; without the dummy hash the unknown path is ~0 ms
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5)
  })

  it('opens a new session per login and ignores a refresh cookie sent along', async () => {
    const user = await registerUser(server.app)
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      cookies: { tessera_refresh: user.refreshToken },
      payload: { email: user.email, password: PASSWORD, tokenDelivery: 'body' },
    })
    expect(response.statusCode).toBe(200)
    const fresh = json<{ refreshToken: string; accessToken: string }>(response)
    expect(fresh.refreshToken).not.toBe(user.refreshToken)
    const sessions = await server.app.inject({ url: '/auth/sessions', headers: bearer(fresh.accessToken) })
    expect(json<{ sessions: unknown[] }>(sessions).sessions).toHaveLength(2)
  })

  it('does not apply the registration length policy to login', async () => {
    const response = await post('/auth/login', { email: uniqueEmail(), password: 'short' })
    expect(response.statusCode).toBe(401)
    expect(json(response).code).toBe('INVALID_CREDENTIALS')
  })

  it('verifies a bcrypt hash from an older app and upgrades it to argon2id', async () => {
    const user = await registerUser(server.app)
    for (const prefix of ['$2b$', '$2a$', '$2y$']) {
      const legacy = (await bcryptHash('legacy password 1', 10)).replace(/^\$2[aby]\$/, prefix)
      await server.deps.stores.users.setPasswordHash(user.userId, legacy, server.clock.now())
      const wrong = await post('/auth/login', { email: user.email, password: 'legacy password 2' })
      expect(wrong.statusCode).toBe(401)
      const response = await post('/auth/login', { email: user.email, password: 'legacy password 1' })
      expect(response.statusCode).toBe(200)
      const row = await server.deps.stores.users.findById(user.userId)
      expect(row?.passwordHash).toMatch(/^\$argon2id\$/)
      expect(
        (await post('/auth/login', { email: user.email, password: 'legacy password 1' })).statusCode,
      ).toBe(200)
    }
  })

  it('answers VALIDATION_FAILED for a body without a password', async () => {
    const response = await post('/auth/login', { email: 'a@example.com' })
    expect(response.statusCode).toBe(400)
    expect(json(response).code).toBe('VALIDATION_FAILED')
  })

  it('refuses a disabled account with the right password, and only then', async () => {
    const user = await registerUser(server.app)
    await server.database.handle.db
      .updateTable('users')
      .set({ disabled_at: server.clock.now() })
      .where('id', '=', user.userId)
      .execute()
    const right = await post('/auth/login', { email: user.email, password: PASSWORD })
    expect(right.statusCode).toBe(403)
    expect(json(right).code).toBe('ACCOUNT_DISABLED')
    const wrong = await post('/auth/login', { email: user.email, password: 'not the password' })
    expect(json(wrong).code).toBe('INVALID_CREDENTIALS')
    // and its live tokens stop working
    const me = await server.app.inject({ url: '/auth/me', headers: bearer(user.accessToken) })
    expect(me.statusCode).toBe(401)
    const refreshed = await server.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refreshToken: user.refreshToken },
    })
    expect(json(refreshed).code).toBe('REFRESH_TOKEN_INVALID')
  })
})
