import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { type Clock, systemClock } from '../../src/clock.js'
import { createLimiterStore, type LimiterStore } from '../../src/limits/store.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { testClock } from '../helpers/clock.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'
import { waitFor } from '../helpers/process.js'

let database: TestDatabase | undefined
let store: LimiterStore | undefined
afterEach(async () => {
  store?.close()
  await database?.drop()
})

async function open(
  cleanupIntervalMs?: number,
  clock: Clock = systemClock,
): Promise<{ db: TestDatabase['handle']['db']; store: LimiterStore }> {
  database = await freshDatabase()
  await migrateToLatest(database.handle.db)
  store = createLimiterStore({
    db: database.handle.db,
    redis: undefined,
    redisPrefix: 'unused:',
    logger: false,
    clock,
    ...(cleanupIntervalMs === undefined ? {} : { cleanupIntervalMs }),
  })
  return { db: database.handle.db, store }
}

const rows = async (db: TestDatabase['handle']['db']) =>
  (await sql<{ key: string; points: number }>`select key, points from rate_limits order by key`.execute(db))
    .rows

describe('counters in the database (no REDIS_URL)', () => {
  it('keeps one row per key: consume, reward, block and delete', async () => {
    const { db, store } = await open()
    const limiter = store.limiter('test:ip', { points: 2, duration: 60 })
    expect((await limiter.consume('a')).remainingPoints).toBe(1)
    expect((await limiter.consume('a')).remainingPoints).toBe(0)
    await expect(limiter.consume('a')).rejects.toMatchObject({ remainingPoints: 0 })
    await limiter.reward('a', 2)
    expect((await limiter.consume('a')).consumedPoints).toBe(2)
    expect(await rows(db)).toEqual([{ key: 'test:ip:a', points: 2 }])

    await limiter.block('b', 30)
    const blocked = await limiter.get('b')
    expect(blocked?.consumedPoints).toBe(3)
    expect(blocked?.msBeforeNext).toBeGreaterThan(29_000)
    await limiter.delete('b')
    expect(await limiter.get('b')).toBeNull()
  })

  it('deletes expired rows periodically', async () => {
    // the rows expire by the real clock (rate-limiter-flexible's own); the cleanup judges them by
    // ours, moved 2 s on, so nothing waits for a second to pass
    const clock = testClock()
    const { db, store } = await open(50, clock)
    const limiter = store.limiter('test:ip', { points: 5, duration: 1 })
    await limiter.consume('gone')
    await store.limiter('test:long', { points: 5, duration: 60 }).consume('stays')
    expect(await rows(db)).toHaveLength(2)
    clock.set(new Date(Date.now() + 2000))
    await waitFor(
      async () => ((await rows(db)).length === 1 ? true : undefined),
      'the expired row deleted',
      5000,
      25,
    )
    expect(await rows(db)).toEqual([{ key: 'test:long:stays', points: 1 }])
  })
})
