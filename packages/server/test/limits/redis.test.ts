import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_REDIS_URL } from '../helpers/database.js'
import { startTestServer, type TestServer, uniqueEmail } from '../helpers/server.js'
import { LIMITS_ON, loginFrom, memoryLogger, nextIp, runRedisPrefix } from './limits-helpers.js'

const servers: TestServer[] = []
afterAll(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

describe.skipIf(!TEST_REDIS_URL)('rate limits on Redis (TEST_REDIS_URL)', () => {
  const prefix = runRedisPrefix()
  let redis: Redis
  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL ?? '')
  })
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })

  // two instances, one Redis; each test counts addresses and emails of its own
  let a: TestServer
  let b: TestServer
  beforeAll(async () => {
    const env = { ...LIMITS_ON, REDIS_URL: TEST_REDIS_URL ?? '', TESSERA_REDIS_PREFIX: prefix }
    a = await startTestServer(env)
    servers.push(a)
    b = await startTestServer(env)
    servers.push(b)
  })

  it('counts in Redis: two instances sharing it share one count', async () => {
    const ip = nextIp()
    const statuses: number[] = []
    for (const app of [a.app, b.app, a.app, b.app, a.app, b.app]) {
      statuses.push((await loginFrom(app, ip, uniqueEmail('nobody'), 'wrong password')).statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
    // the counters are Redis keys under the prefix, not database rows
    expect(await redis.keys(`${prefix}rl:login-failed:ip:*`)).toHaveLength(1)
    const rows = await a.database.handle.db
      .selectFrom('rate_limits' as never)
      .selectAll()
      .execute()
    expect(rows).toEqual([])
  })

  it('locks an email for every instance sharing Redis', async () => {
    const email = uniqueEmail('nobody')
    const statuses: number[] = []
    for (const app of [a.app, b.app, a.app, b.app, a.app, b.app]) {
      statuses.push((await loginFrom(app, nextIp(), email, 'wrong password')).statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 423])
  })
})

describe('Redis unreachable', () => {
  const { logger, lines } = memoryLogger()
  let server: TestServer
  beforeAll(async () => {
    // nothing listens on port 1: every Redis command fails at once
    server = await startTestServer(
      { ...LIMITS_ON, REDIS_URL: 'redis://127.0.0.1:1', TESSERA_REDIS_PREFIX: runRedisPrefix() },
      undefined,
      { logger },
    )
    servers.push(server)
  })

  it('keeps answering, with limits counted in process memory, and logs one warning', async () => {
    const ip = nextIp()
    const statuses: number[] = []
    for (let attempt = 1; attempt <= 6; attempt++) {
      statuses.push((await loginFrom(server.app, ip, uniqueEmail('nobody'), 'wrong password')).statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
    const email = uniqueEmail('nobody')
    const lockout: number[] = []
    for (let attempt = 1; attempt <= 6; attempt++) {
      lockout.push((await loginFrom(server.app, nextIp(), email, 'wrong password')).statusCode)
    }
    expect(lockout).toEqual([401, 401, 401, 401, 401, 423])
    const register = await server.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: uniqueEmail('reg'), password: 'correct horse battery staple' },
      remoteAddress: nextIp(),
    })
    expect(register.statusCode).toBe(201)
    const warnings = lines().filter(
      (line) =>
        line.level === 40 &&
        String(line.msg).includes('rate limits and lockouts are counted in this process'),
    )
    expect(warnings).toHaveLength(1)
    expect(lines().filter((line) => Number(line.level) >= 50)).toEqual([])
  })
})
