import { pbkdf2Sync } from 'node:crypto'
import { hash as argon2Hash } from '@node-rs/argon2'
import { afterEach, describe, expect, it } from 'vitest'
import { PBKDF2_MAX_ITERATIONS } from '../../src/passwords/hash-formats.js'
import { json, registerUser, startTestServer, type TestServer } from '../helpers/server.js'

const servers: TestServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function server(env: Record<string, string> = {}) {
  const started = await startTestServer(env)
  servers.push(started)
  return started
}

const login = (server: TestServer, email: string, password: string) =>
  server.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password, tokenDelivery: 'body' },
  })

/** A registered user whose stored hash is then replaced by `hash`, as an import leaves it. */
async function userWithHash(server: TestServer, hash: string) {
  const user = await registerUser(server.app)
  await server.deps.stores.users.setPasswordHash(user.userId, hash, server.clock.now())
  return user
}

const storedHash = async (server: TestServer, id: string) =>
  (await server.deps.stores.users.findById(id))?.passwordHash

const django = (password: string, salt: string, iterations: number) =>
  `pbkdf2_sha256$${iterations}$${salt}$${pbkdf2Sync(password, salt, iterations, 32, 'sha256').toString('base64')}`

describe('legacy password hashes at login', () => {
  it('signs in with a Django PBKDF2 or an argon2i hash and stores argon2id instead', async () => {
    const app = await server()
    const hashes = [
      // Django's own known vector for 'lètmein'
      {
        password: 'lètmein',
        hash: 'pbkdf2_sha256$1000000$seasalt$r1uLUxoxpP2Ued/qxvmje7UH9PUJBkRrvf9gGPL7Cps=',
      },
      { password: 'django password', hash: django('django password', 'RrvR3gL4vHQw', 1000) },
      {
        password: 'argon2i password',
        hash: await argon2Hash('argon2i password', {
          memoryCost: 1024,
          timeCost: 1,
          parallelism: 1,
          algorithm: 1,
        }),
      },
    ]
    for (const { password, hash } of hashes) {
      const user = await userWithHash(app, hash)
      const wrong = await login(app, user.email, `${password}x`)
      expect(wrong.statusCode).toBe(401)
      expect(await storedHash(app, user.userId)).toBe(hash)
      expect((await login(app, user.email, password)).statusCode).toBe(200)
      expect(await storedHash(app, user.userId)).toMatch(/^\$argon2id\$/)
      expect((await login(app, user.email, password)).statusCode).toBe(200)
    }
  })

  it('answers INVALID_CREDENTIALS, never a 5xx or a stall, for a hash it does not know or whose cost is out of bounds', async () => {
    const app = await server()
    const b64 = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64').replace(/=+$/, '')
    const unknown = [
      '',
      'correct horse battery staple',
      '5f4dcc3b5aa765d61d8327deb882cf99',
      `$2b$31$${'a'.repeat(53)}`, // bcrypt cost 31: 2^31 rounds
      `$2b$10$${'!'.repeat(53)}`,
      `$argon2id$v=19$m=4194304,t=1,p=1$${b64(16)}$${b64(32)}`, // 4 GiB of memory
      `$argon2id$v=19$m=1024,t=1000,p=1$${b64(16)}$${b64(32)}`,
      `$argon2id$v=19$m=1024,t=1,p=1$${b64(16)}$${'*'.repeat(43)}`,
      `$argon2d$v=19$m=1024,t=1,p=1$${b64(16)}$${b64(32)}`,
      `pbkdf2_sha256$${PBKDF2_MAX_ITERATIONS + 1}$salt$${Buffer.alloc(32).toString('base64')}`,
      'pbkdf2_sha256$1000$salt$tooShort=',
      `pbkdf2_sha1$1000$salt$${Buffer.alloc(20).toString('base64')}`,
    ]
    for (const hash of unknown) {
      const user = await userWithHash(app, hash)
      const started = performance.now()
      const response = await login(app, user.email, hash === '' ? 'anything at all' : hash)
      expect(response.statusCode, hash).toBe(401)
      expect(json(response).code).toBe('INVALID_CREDENTIALS')
      // nothing was hashed for seconds (a bounded cost is refused before any work)
      expect(performance.now() - started, hash).toBeLessThan(5000)
      expect(await storedHash(app, user.userId)).toBe(hash)
    }
  })

  it('verifies legacy hashes through the hashing gate: past its queue a login is told to retry', async () => {
    // one hash at a time and one in line; a PBKDF2 hash at the bound takes about a second
    const app = await server({
      TESSERA_HASH_CONCURRENCY: '1',
      TESSERA_HASH_QUEUE: '1',
      TESSERA_HASH_QUEUE_TIMEOUT: '60s',
    })
    const password = 'slow legacy password'
    const user = await userWithHash(app, django(password, 'gate-salt', PBKDF2_MAX_ITERATIONS))
    const responses = await Promise.all([1, 2, 3].map(() => login(app, user.email, password)))
    const statuses = responses.map((response) => response.statusCode).sort()
    expect(statuses).toEqual([200, 200, 503])
    const refused = responses.find((response) => response.statusCode === 503)
    expect(refused && json(refused).code).toBe('SERVICE_UNAVAILABLE')
    expect(refused?.headers['retry-after']).toBe('1')
  })
})

describe('an upgrade racing a password change', () => {
  it('does not undo a new password set while the login hashed the old one, and that login fails', async () => {
    const app = await server()
    const oldPassword = 'django password'
    const user = await userWithHash(app, django(oldPassword, 'RrvR3gL4vHQw', 1000))
    // the owner resets the password while the login is hashing the old one for its upgrade
    const hasher = app.deps.hasher
    const hash = hasher.hash.bind(hasher)
    const newHash = await hash('a new password after the reset')
    hasher.hash = async (password: string) => {
      await app.deps.stores.users.setPasswordHash(user.userId, newHash, app.clock.now())
      return hash(password)
    }
    try {
      const racing = await login(app, user.email, oldPassword)
      expect(racing.statusCode).toBe(401)
      expect(json(racing).code).toBe('INVALID_CREDENTIALS')
    } finally {
      hasher.hash = hash
    }
    expect(await storedHash(app, user.userId)).toBe(newHash)
    expect((await login(app, user.email, 'a new password after the reset')).statusCode).toBe(200)
    expect((await login(app, user.email, oldPassword)).statusCode).toBe(401)
  })
})
