import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { PASSWORD, startTestServer, type TestServer, uniqueEmail } from '../helpers/server.js'
import { LIMITS_ON, loginFrom, nextIp, RATE_LIMIT_HEADERS, registerFrom } from './limits-helpers.js'

// one server per environment, shared by the tests of this file: each test uses addresses and
// emails of its own, so their counts never meet
const servers = new Map<string, Promise<TestServer>>()
const start = (env: Record<string, string> = {}): Promise<TestServer> => {
  const id = JSON.stringify(env)
  let server = servers.get(id)
  if (!server) {
    server = startTestServer({ ...LIMITS_ON, ...env })
    servers.set(id, server)
  }
  return server
}
afterAll(async () => {
  await Promise.all([...servers.values()].map(async (server) => (await server).close()))
})

const ANY_OUTCOME = { TESSERA_LIMIT_LOGIN: '3/1m' }
const OFF = { TESSERA_RATE_LIMIT: 'off' }
const PROXY = '10.0.0.7'
const TRUSTED = { TESSERA_TRUST_PROXY: PROXY }

describe('failed logins per client address', () => {
  beforeAll(() => start())

  it('refuses the 6th failed login in a minute with 429, Retry-After and RateLimit headers, before any hashing', async () => {
    const { app, deps } = await start()
    const ip = nextIp()
    for (let attempt = 1; attempt <= 5; attempt++) {
      const response = await loginFrom(app, ip, uniqueEmail('nobody'), 'wrong password')
      expect(response.statusCode).toBe(401)
      expect(response.headers['ratelimit-limit']).toBeDefined()
    }
    const verify = vi.spyOn(deps.hasher, 'verify')
    const verifyDummy = vi.spyOn(deps.hasher, 'verifyDummy')
    const refused = await loginFrom(app, ip, uniqueEmail('nobody'), 'wrong password')
    verify.mockRestore()
    verifyDummy.mockRestore()
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['content-type']).toContain('application/problem+json')
    expect(refused.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' })
    const retryAfter = Number(refused.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(refused.headers['ratelimit-limit']).toBe('5')
    expect(refused.headers['ratelimit-remaining']).toBe('0')
    expect(Number(refused.headers['ratelimit-reset'])).toBe(retryAfter)
    // no argon2 ran for the refused request
    expect(verify).not.toHaveBeenCalled()
    expect(verifyDummy).not.toHaveBeenCalled()
  })

  it('does not count a refused login against the account: it still takes 5 failures to lock it', async () => {
    const { app } = await start()
    const email = await registerFrom(app)
    const attacker = nextIp()
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await loginFrom(app, attacker, uniqueEmail('other'), 'wrong password')).statusCode).toBe(401)
    }
    expect((await loginFrom(app, attacker, email, 'wrong password')).statusCode).toBe(429)
    // had the 429 counted, the fourth failure below would lock the account
    const owner = nextIp()
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect((await loginFrom(app, owner, email, 'wrong password')).statusCode).toBe(401)
    }
    expect((await loginFrom(app, owner, email, PASSWORD)).statusCode).toBe(200)
  })

  it('counts only failures: successful logins leave the failure budget alone', async () => {
    const { app } = await start()
    const email = await registerFrom(app)
    const ip = nextIp()
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect((await loginFrom(app, ip, uniqueEmail('nobody'), 'wrong password')).statusCode).toBe(401)
    }
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect((await loginFrom(app, ip, email, PASSWORD)).statusCode).toBe(200)
    }
    expect((await loginFrom(app, ip, uniqueEmail('nobody'), 'wrong password')).statusCode).toBe(401)
    expect((await loginFrom(app, ip, uniqueEmail('nobody'), 'wrong password')).statusCode).toBe(429)
  })

  it('stays exact when failures arrive in parallel', async () => {
    const { app } = await start()
    const ip = nextIp()
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => loginFrom(app, ip, uniqueEmail('nobody'), 'wrong password')),
    )
    const statuses = answers.map((response) => response.statusCode).sort()
    expect(statuses.filter((status) => status === 401)).toHaveLength(5)
    expect(statuses.filter((status) => status === 429)).toHaveLength(7)
  })
})

describe('logins per client address, any outcome', () => {
  beforeAll(() => Promise.all([start(), start(ANY_OUTCOME)]))

  it('refuses logins past TESSERA_LIMIT_LOGIN, successful ones included', async () => {
    const { app } = await start(ANY_OUTCOME)
    const email = await registerFrom(app)
    const ip = nextIp()
    for (let attempt = 1; attempt <= 3; attempt++) {
      const response = await loginFrom(app, ip, email, PASSWORD)
      expect(response.statusCode).toBe(200)
    }
    const refused = await loginFrom(app, ip, email, PASSWORD)
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['ratelimit-limit']).toBe('3')
    // another client is not affected
    expect((await loginFrom(app, nextIp(), email, PASSWORD)).statusCode).toBe(200)
  })

  it('sends the RateLimit headers of the tightest limit on allowed answers', async () => {
    const { app } = await start()
    const email = await registerFrom(app)
    const ip = nextIp()
    const first = await loginFrom(app, ip, email, PASSWORD)
    expect(first.statusCode).toBe(200)
    // the failure budget (5, one held while the login ran) is tighter than any-outcome (30)
    expect(first.headers['ratelimit-limit']).toBe('5')
    expect(first.headers['ratelimit-remaining']).toBe('4')
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThan(0)
    expect(Number(first.headers['ratelimit-reset'])).toBeLessThanOrEqual(60)
  })
})

describe('TESSERA_RATE_LIMIT=off', () => {
  beforeAll(() => start(OFF))

  it('turns off the address limits and the lockout: 30 failed logins, never a 429 or 423', async () => {
    const { app } = await start(OFF)
    const email = await registerFrom(app)
    const ip = nextIp()
    for (let attempt = 1; attempt <= 30; attempt++) {
      const response = await loginFrom(app, ip, email, 'wrong password')
      expect(response.statusCode).toBe(401)
      for (const header of RATE_LIMIT_HEADERS) expect(response.headers[header]).toBeUndefined()
    }
    expect((await loginFrom(app, ip, email, PASSWORD)).statusCode).toBe(200)
  }, 90_000)
})

describe('the client address behind a proxy', () => {
  beforeAll(() => Promise.all([start(), start(TRUSTED)]))

  it('ignores X-Forwarded-For from a peer that TESSERA_TRUST_PROXY does not name', async () => {
    const { app } = await start()
    for (let attempt = 1; attempt <= 5; attempt++) {
      const response = await loginFrom(app, PROXY, uniqueEmail('nobody'), 'wrong password', {
        'x-forwarded-for': nextIp(),
      })
      expect(response.statusCode).toBe(401)
    }
    const refused = await loginFrom(app, PROXY, uniqueEmail('nobody'), 'wrong password', {
      'x-forwarded-for': nextIp(),
    })
    expect(refused.statusCode).toBe(429)
  })

  it('counts per forwarded client when TESSERA_TRUST_PROXY names the proxy', async () => {
    const { app } = await start(TRUSTED)
    // six clients behind one proxy, one failure each: no one is limited
    for (let client = 1; client <= 6; client++) {
      const response = await loginFrom(app, PROXY, uniqueEmail('nobody'), 'wrong password', {
        'x-forwarded-for': nextIp(),
      })
      expect(response.statusCode).toBe(401)
    }
    // one client behind it, six failures: that client is
    const client = nextIp()
    const statuses: number[] = []
    for (let attempt = 1; attempt <= 6; attempt++) {
      const response = await loginFrom(app, PROXY, uniqueEmail('nobody'), 'wrong password', {
        'x-forwarded-for': client,
      })
      statuses.push(response.statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })

  it('counts an IPv6 client per /64, so new addresses in its network do not reset the count', async () => {
    const { app } = await start()
    const statuses: number[] = []
    for (let host = 1; host <= 6; host++) {
      const response = await loginFrom(app, `2001:db8:1:2::${host.toString(16)}`, uniqueEmail('nobody'), 'x')
      statuses.push(response.statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
    expect((await loginFrom(app, '2001:db8:1:3::1', uniqueEmail('nobody'), 'x')).statusCode).toBe(401)
  })
})
