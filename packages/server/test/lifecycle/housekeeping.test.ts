import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { type Housekeeping, runHousekeeping, startHousekeeping } from '../../src/housekeeping.js'
import { openDatabase } from '../../src/store/db.js'
import {
  createHousekeepingStore,
  type HousekeepingStore,
  type HousekeepingTx,
} from '../../src/store/housekeeping.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { runCli } from '../helpers/cli.js'
import { testClock } from '../helpers/clock.js'
import { freshDatabase, TEST_DATABASE_URL, type TestDatabase } from '../helpers/database.js'
import { cleanupProcesses, preparedDataDir } from '../helpers/process.js'
import {
  json,
  logoutWith,
  type Registered,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
} from '../helpers/server.js'

const HOUR = 3600
const DAY = 24 * HOUR

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  vi.useRealTimers()
  await cleanupProcesses()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const started = await startTestServer({ TESSERA_HOUSEKEEPING: 'on', ...env }, testClock())
  cleanups.push(() => started.close())
  return started
}

function housekeeperOf(test: TestServer): Housekeeping {
  if (!test.housekeeping) throw new Error('housekeeping is off')
  return test.housekeeping
}

const refreshed = async (test: TestServer, token: string): Promise<string> => {
  const response = await refreshWith(test.app, token)
  if (response.statusCode !== 200) throw new Error(`refresh failed: ${response.statusCode} ${response.body}`)
  return json<{ refreshToken: string }>(response).refreshToken
}

const sessionIds = async (test: TestServer, user: Registered): Promise<string[]> =>
  (
    await test.database.handle.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', user.userId)
      .execute()
  ).map((row) => row.id)

const refreshTokenCount = async (test: TestServer, user: Registered): Promise<number> =>
  (
    await test.database.handle.db
      .selectFrom('refresh_tokens')
      .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
      .select('refresh_tokens.id')
      .where('sessions.user_id', '=', user.userId)
      .execute()
  ).length

async function issueResetToken(test: TestServer, user: Registered, ttl: number): Promise<string> {
  const id = randomUUID()
  const now = test.clock.now()
  await test.deps.stores.oneTimeTokens.issue({
    id,
    userId: user.userId,
    purpose: 'password_reset',
    hash: randomBytes(32),
    email: user.email,
    createdAt: now,
    expiresAt: new Date(now.getTime() + ttl * 1000),
  })
  return id
}

const oneTimeTokenIds = async (test: TestServer): Promise<string[]> =>
  (
    await test.database.handle.db
      .selectFrom('one_time_tokens')
      .select('id')
      .where('purpose', '=', 'password_reset')
      .execute()
  ).map((row) => row.id)

describe('housekeeping', () => {
  it('deletes sessions dead for longer than the grace, with their refresh tokens, and keeps the others', async () => {
    // idle timeout 1 day, grace (default) 1 day
    const test = await server({ TESSERA_REFRESH_IDLE_TTL: '1d' })
    const housekeeping = housekeeperOf(test)
    const loggedOut = await registerUser(test.app)
    const idle = await registerUser(test.app)
    const active = await registerUser(test.app)
    await logoutWith(test.app, loggedOut.refreshToken)

    test.clock.advance(12 * HOUR)
    let token = await refreshed(test, active.refreshToken)
    // revoked 12 h ago, within the grace: kept
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { sessions: 0 } })

    test.clock.advance(13 * HOUR)
    token = await refreshed(test, token)
    // the logout 25 h ago is past the grace; the idle session expired 1 h ago is not yet
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { sessions: 1 } })
    expect(await sessionIds(test, loggedOut)).toEqual([])
    expect(await refreshTokenCount(test, loggedOut)).toBe(0)
    expect(await sessionIds(test, idle)).toHaveLength(1)

    test.clock.advance(23.5 * HOUR)
    token = await refreshed(test, token)
    // the idle session expired 24½ h ago now
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { sessions: 1 } })
    expect(await sessionIds(test, idle)).toEqual([])
    expect(await refreshTokenCount(test, idle)).toBe(0)

    // the active session and every token of its family are still there, and it still refreshes
    expect(await sessionIds(test, active)).toHaveLength(1)
    expect(await refreshTokenCount(test, active)).toBe(4)
    await refreshed(test, token)
  })

  it('deletes a session past its absolute lifetime after the grace, however recently it refreshed', async () => {
    const test = await server({ TESSERA_REFRESH_IDLE_TTL: '1d', TESSERA_SESSION_MAX_AGE: '2d' })
    const user = await registerUser(test.app)
    let token = user.refreshToken
    for (let i = 0; i < 3; i++) {
      test.clock.advance(12 * HOUR)
      token = await refreshed(test, token)
    }
    // refreshed 12 h before the end: 2 days after login the session is over, a day later its rows go
    test.clock.advance(12 * HOUR + DAY - 1)
    expect(await housekeeperOf(test).runOnce()).toMatchObject({ deleted: { sessions: 0 } })
    test.clock.advance(2)
    expect(await housekeeperOf(test).runOnce()).toMatchObject({ deleted: { sessions: 1 } })
    expect(await sessionIds(test, user)).toEqual([])
  })

  it('keeps the used tokens of a live session: the grace-window repeat and reuse detection still work', async () => {
    const test = await server()
    const housekeeping = housekeeperOf(test)
    const user = await registerUser(test.app)
    test.clock.advance(HOUR)
    const second = await refreshed(test, user.refreshToken)
    test.clock.advance(3 * DAY)
    const third = await refreshed(test, second)
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { sessions: 0 } })

    // a racing repeat inside the reuse grace gets the same successor back
    test.clock.advance(2)
    const repeat = await refreshWith(test.app, second)
    expect(repeat.statusCode).toBe(200)
    expect(json<{ refreshToken: string }>(repeat).refreshToken).toBe(third)

    // the first token, used three days ago, is still recognised: reuse, and the session is revoked
    test.clock.advance(60)
    const replay = await refreshWith(test.app, user.refreshToken)
    expect(replay.statusCode).toBe(401)
    expect(json(replay).code).toBe('REFRESH_TOKEN_REUSED')
    expect(json(await refreshWith(test.app, third)).code).toBe('REFRESH_TOKEN_INVALID')
  })

  it('deletes one-time tokens expired or used longer ago than the grace', async () => {
    const test = await server()
    const housekeeping = housekeeperOf(test)
    const user = await registerUser(test.app)
    const expiring = await issueResetToken(test, user, 15 * 60)
    test.clock.advance(HOUR)
    // voids the first (used_at = now) and lives a week
    const voiding = await issueResetToken(test, user, 7 * DAY)

    test.clock.advance(DAY - HOUR)
    // expired 23¾ h ago, voided 23 h ago
    expect(await housekeeping.runOnce()).toMatchObject({ deleted: { oneTimeTokens: 0 } })
    test.clock.advance(HOUR)
    // the first expired 24¾ h ago: gone; the second is live
    expect(await housekeeping.runOnce()).toMatchObject({ deleted: { oneTimeTokens: 1 } })
    expect(await oneTimeTokenIds(test)).toEqual([voiding])
    expect(expiring).not.toBe(voiding)

    // the second expires 7 days after it was issued; a day after that it goes, and so does the
    // verification token registration mailed (expired after 24 h)
    test.clock.advance(7 * DAY + 1)
    expect(await housekeeping.runOnce()).toMatchObject({ deleted: { oneTimeTokens: 2 } })
    expect(await oneTimeTokenIds(test)).toEqual([])
  })

  it('works through a backlog larger than one batch', async () => {
    const test = await server()
    const user = await registerUser(test.app)
    const longAgo = new Date(test.clock.now().getTime() - 3 * DAY * 1000)
    await test.database.handle.db
      .insertInto('sessions')
      .values(
        Array.from({ length: 1234 }, () => ({
          id: randomUUID(),
          user_id: user.userId,
          created_at: longAgo,
          authenticated_at: longAgo,
          last_used_at: longAgo,
          idle_expires_at: longAgo,
          absolute_expires_at: longAgo,
          user_agent: null,
          ip: null,
        })),
      )
      .execute()
    expect(await housekeeperOf(test).runOnce()).toMatchObject({ deleted: { sessions: 1234 } })
    // the registration's own session is live
    expect(await sessionIds(test, user)).toHaveLength(1)
  })

  it('deletes audit events past TESSERA_AUDIT_RETENTION', async () => {
    const test = await server({ TESSERA_AUDIT_RETENTION: '30d' })
    const now = test.clock.now()
    const at = (days: number) => new Date(now.getTime() - days * DAY * 1000)
    for (const days of [31, 29]) {
      await test.deps.stores.authEvents.insert({
        id: randomUUID(),
        type: 'login_succeeded',
        userId: null,
        sessionId: null,
        ip: null,
        userAgent: null,
        detail: {},
        createdAt: at(days),
      })
    }
    const report = await housekeeperOf(test).runOnce()
    expect(report).toMatchObject({ status: 'done', deleted: { authEvents: 1 } })
  })

  it('then vacuums and analyzes every table of the embedded database, which has no autovacuum; on PostgreSQL none', async () => {
    const test = await server()
    const { db, embedded } = test.database.handle
    const now = async () =>
      (await sql<{ at: Date }>`select clock_timestamp() as at`.execute(db)).rows[0]?.at ?? new Date(0)
    const started = await now()
    const report = await housekeeperOf(test).runOnce()
    // the statistics' own record of each table's last manual VACUUM and ANALYZE
    const { rows: tables } = await sql<{ name: string; vacuumed: Date | null; analyzed: Date | null }>`
      select relname as name, last_vacuum as vacuumed, last_analyze as analyzed from pg_stat_user_tables
    `.execute(db)
    const { rows: all } = await sql<{ name: string }>`
      select tablename as name from pg_tables where schemaname = current_schema()
    `.execute(db)
    // users, sessions, refresh_tokens, … and the migrations' own
    expect(all.length).toBeGreaterThanOrEqual(20)
    expect(tables.map((table) => table.name).sort()).toEqual(all.map((table) => table.name).sort())
    const since = (at: Date | null) => at !== null && at >= started
    if (embedded === true) {
      expect(report).toMatchObject({ status: 'done', vacuumed: tables.length })
      expect(tables.filter((table) => !since(table.vacuumed) || !since(table.analyzed))).toEqual([])
    } else {
      // autovacuum's work there: housekeeping adds none
      expect(report).toMatchObject({ status: 'done', vacuumed: 0 })
      expect(tables.filter((table) => since(table.vacuumed))).toEqual([])
    }
  })

  it('vacuums no further table once the server is stopping; the deletions still happen', async () => {
    const test = await server()
    const loggedOut = await registerUser(test.app)
    await logoutWith(test.app, loggedOut.refreshToken)
    test.clock.advance(25 * HOUR)
    const housekeeping = housekeeperOf(test)
    const run = housekeeping.runOnce()
    // stopping while the run is under way: it waits for the run, which stops before its vacuum
    await housekeeping.stop()
    expect(await run).toMatchObject({ status: 'done', deleted: { sessions: 1 }, vacuumed: 0 })
    expect(await sessionIds(test, loggedOut)).toEqual([])
  })

  it('is off in tests unless asked for, and with TESSERA_HOUSEKEEPING=off', async () => {
    const quiet = await startTestServer()
    cleanups.push(() => quiet.close())
    expect(quiet.housekeeping).toBeUndefined()
    expect(quiet.config.housekeeping).toBe(false)
  })
})

describe('housekeeping configuration and command', () => {
  it('defaults to on, every hour, a day of grace; rejects what would misbehave', () => {
    const parse = (env: Record<string, string>) => parseConfig({ DATABASE_URL: 'memory://', ...env })
    expect(parse({})).toMatchObject({
      housekeeping: true,
      housekeepingInterval: HOUR,
      housekeepingGrace: DAY,
    })
    expect(parse({ TESSERA_HOUSEKEEPING: 'off', TESSERA_HOUSEKEEPING_INTERVAL: '15m' })).toMatchObject({
      housekeeping: false,
      housekeepingInterval: 15 * 60,
    })
    expect(() => parse({ TESSERA_HOUSEKEEPING: 'sometimes' })).toThrow(
      /^TESSERA_HOUSEKEEPING: expected on or off/,
    )
    expect(() => parse({ TESSERA_HOUSEKEEPING_INTERVAL: '30d' })).toThrow(
      /^TESSERA_HOUSEKEEPING_INTERVAL: must be at most 7d/,
    )
    expect(() => parse({ TESSERA_HOUSEKEEPING_GRACE: '10m' })).toThrow(
      /^TESSERA_HOUSEKEEPING_GRACE: must be at least 3600 seconds/,
    )
  })

  it('runs once from the CLI and says what it deleted', async () => {
    const run = await runCli(['housekeeping'], { TESSERA_DATA_DIR: await preparedDataDir() })
    expect(run).toMatchObject({
      code: 0,
      stderr: '',
      stdout: expect.stringMatching(
        /^Deleted: sessions 0, oneTimeTokens 0, authEvents 0, revocationEvents 0, webauthnChallenges 0, mfaTokens 0, webhookOutbox 0\nVacuumed \d+ tables \(the embedded database\)\.\n$/,
      ),
    })
  })
})

describe('the housekeeping schedule', () => {
  function countingStore(): HousekeepingStore & { runs: number } {
    const store = {
      runs: 0,
      async exclusively<T>(work: (tx: HousekeepingTx) => Promise<T>) {
        store.runs++
        const result = await work({
          db: undefined as never,
          deleteDeadSessions: async () => 0,
          deleteSpentOneTimeTokens: async () => 0,
        })
        return { ran: true as const, result }
      },
      vacuum: async () => 0,
    }
    return store
  }

  it('reports the deletions when the vacuum after them fails, with the failure', async () => {
    const failure = new Error('could not extend file: No space left on device')
    const report = await runHousekeeping({
      store: { ...countingStore(), vacuum: async () => Promise.reject(failure) },
      clock: testClock(),
      config: { housekeepingInterval: HOUR, housekeepingGrace: DAY },
    })
    expect(report).toEqual({
      status: 'done',
      deleted: { sessions: 0, oneTimeTokens: 0 },
      vacuumed: 0,
      vacuumError: failure,
    })
  })

  it('runs a minute after start, then every interval, until stopped', async () => {
    vi.useFakeTimers()
    const store = countingStore()
    const housekeeping = startHousekeeping({
      store,
      clock: testClock(),
      config: { housekeepingInterval: HOUR, housekeepingGrace: DAY },
      logger: false,
    })
    await vi.advanceTimersByTimeAsync(59_000)
    expect(store.runs).toBe(0)
    await vi.advanceTimersByTimeAsync(1000)
    expect(store.runs).toBe(1)
    await vi.advanceTimersByTimeAsync(HOUR * 1000)
    expect(store.runs).toBe(2)
    await housekeeping.stop()
    await vi.advanceTimersByTimeAsync(3 * HOUR * 1000)
    expect(store.runs).toBe(2)
  })
})

describe.skipIf(!TEST_DATABASE_URL)('housekeeping on PostgreSQL', () => {
  it('runs on one instance at a time: a second one at the same moment reports skipped', async () => {
    const database: TestDatabase = await freshDatabase()
    cleanups.push(() => database.drop())
    await migrateToLatest(database.handle.db)
    // a second pool: another instance, with connections of its own
    const other = await openDatabase({ kind: 'postgres', url: database.url })
    cleanups.push(() => other.close())

    let entered!: () => void
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const config = { housekeepingInterval: HOUR, housekeepingGrace: DAY }
    const first = startHousekeeping({
      store: createHousekeepingStore(database.handle.db, { embedded: false }),
      clock: testClock(),
      config,
      logger: false,
      // holds the first run inside its locked transaction until the second has tried
      tasks: [
        {
          name: 'held',
          run: async () => {
            entered()
            await released
            return 0
          },
        },
      ],
    })
    const second = startHousekeeping({
      store: createHousekeepingStore(other.db, { embedded: false }),
      clock: testClock(),
      config,
      logger: false,
    })
    cleanups.push(async () => {
      release()
      await first.stop()
      await second.stop()
    })

    const running = first.runOnce()
    await inside
    expect(await second.runOnce()).toEqual({ status: 'skipped' })
    release()
    expect(await running).toEqual({
      status: 'done',
      deleted: { sessions: 0, oneTimeTokens: 0, held: 0 },
      vacuumed: 0,
    })
    // the lock went with the first run's transaction
    expect(await second.runOnce()).toEqual({
      status: 'done',
      deleted: { sessions: 0, oneTimeTokens: 0 },
      vacuumed: 0,
    })
  })
})
