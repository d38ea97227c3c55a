import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { freshPostgresUrl, TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/database.js'
import { cleanupProcesses, type Env, login, startServerProcess } from '../helpers/process.js'
import { runRedisPrefix } from './limits-helpers.js'

const SECRET = randomBytes(36).toString('base64url')
const prefix = runRedisPrefix()

const drops: (() => Promise<void>)[] = []
afterEach(async () => {
  await cleanupProcesses()
  await Promise.all(drops.splice(0).map((drop) => drop()))
})
afterAll(async () => {
  if (!TEST_REDIS_URL) return
  const redis = new Redis(TEST_REDIS_URL)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

async function sharedEnv(extra: Env): Promise<Env> {
  const database = await freshPostgresUrl()
  if (!database) throw new Error('TEST_DATABASE_URL is not set')
  drops.push(database.drop)
  return { DATABASE_URL: database.url, TESSERA_SECRET: SECRET, TESSERA_RATE_LIMIT: 'on', ...extra }
}

/** Failed logins through A, B, A, B, A, B, from one address (both listen on 127.0.0.1). */
async function failAlternately(a: string, b: string): Promise<number[]> {
  const statuses: number[] = []
  for (const [index, base] of [a, b, a, b, a, b].entries()) {
    statuses.push((await login(base, `nobody-${index}@example.com`, 'wrong password')).status)
  }
  return statuses
}

describe.skipIf(!TEST_DATABASE_URL || !TEST_REDIS_URL)(
  'two server processes, one PostgreSQL, one Redis',
  () => {
    it('add their failed logins up to one limit', async () => {
      const env = await sharedEnv({ REDIS_URL: TEST_REDIS_URL, TESSERA_REDIS_PREFIX: prefix })
      // one after the other: the first migrates and makes the signing key
      const a = await startServerProcess(env)
      const b = await startServerProcess(env)
      expect(await failAlternately(a.url, b.url)).toEqual([401, 401, 401, 401, 401, 429])
      // counted in Redis, under the prefix
      const redis = new Redis(TEST_REDIS_URL ?? '')
      try {
        expect(await redis.keys(`${prefix}rl:login-failed:ip:*`)).toHaveLength(1)
      } finally {
        redis.disconnect()
      }
    }, 120_000)
  },
)

describe.skipIf(!TEST_DATABASE_URL)('two server processes, one PostgreSQL, no Redis', () => {
  it('add their failed logins up to one limit in the database', async () => {
    const env = await sharedEnv({})
    const a = await startServerProcess(env)
    const b = await startServerProcess(env)
    expect(await failAlternately(a.url, b.url)).toEqual([401, 401, 401, 401, 401, 429])
  }, 120_000)
})
