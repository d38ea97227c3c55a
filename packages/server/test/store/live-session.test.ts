import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateToLatest } from '../../src/store/migrate.js'
import { isLive, liveSession } from '../../src/store/sessions.js'
import { createStores } from '../../src/store/stores.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'

const AT = new Date('2030-01-01T12:00:00.000Z')
const offset = (seconds: number) => new Date(AT.getTime() + seconds * 1000)

interface Case {
  name: string
  revokedAt: Date | null
  idleExpiresAt: Date
  absoluteExpiresAt: Date
  disabledAt: Date | null
}

const LIVE: Omit<Case, 'name'> = {
  revokedAt: null,
  idleExpiresAt: offset(60),
  absoluteExpiresAt: offset(3600),
  disabledAt: null,
}

const CASES: Case[] = [
  { name: 'live', ...LIVE },
  { name: 'revoked', ...LIVE, revokedAt: offset(-1) },
  { name: 'revoked in the future', ...LIVE, revokedAt: offset(60) },
  { name: 'idle-expired', ...LIVE, idleExpiresAt: offset(-1) },
  { name: 'idle-expiring this instant', ...LIVE, idleExpiresAt: AT },
  { name: 'absolute-expired', ...LIVE, absoluteExpiresAt: offset(-1) },
  { name: 'absolute-expiring this instant', ...LIVE, absoluteExpiresAt: AT },
  { name: 'of a disabled user', ...LIVE, disabledAt: offset(-60) },
]

let database: TestDatabase
const sessionIds = new Map<string, string>()

beforeAll(async () => {
  database = await freshDatabase()
  const db = database.handle.db
  await migrateToLatest(db)
  const stores = createStores(db, { accessTokenTtl: 900 })
  for (const testCase of CASES) {
    const userId = randomUUID()
    const sessionId = randomUUID()
    const created = await stores.users.create({
      id: userId,
      email: `${userId}@example.com`,
      emailNormalized: `${userId}@example.com`,
      name: null,
      passwordHash: 'unused',
      roles: [],
      createdAt: offset(-7200),
    })
    expect(created).not.toBe('email_taken')
    if (testCase.disabledAt) await stores.users.setDisabled(userId, testCase.disabledAt, offset(-60))
    await stores.sessions.open({
      id: sessionId,
      userId,
      createdAt: offset(-7200),
      auth: { amr: ['pwd'], acr: 'urn:tessera:pwd', authenticatedAt: offset(-7200) },
      idleExpiresAt: testCase.idleExpiresAt,
      absoluteExpiresAt: testCase.absoluteExpiresAt,
      userAgent: null,
      ip: null,
      refreshToken: { id: randomUUID(), hash: randomBytes(32) },
    })
    if (testCase.revokedAt) {
      await db
        .updateTable('sessions')
        .set({ revoked_at: testCase.revokedAt })
        .where('id', '=', sessionId)
        .execute()
    }
    sessionIds.set(testCase.name, sessionId)
  }
})

afterAll(() => database?.drop())

describe('a live session', () => {
  it.each(CASES)('is the same in SQL and in TypeScript: $name', async (testCase) => {
    const id = sessionIds.get(testCase.name) ?? ''
    const { rows } = await sql<{ live: boolean }>`
      select ${liveSession(AT, { session: 's', user: 'u' })} as live
      from sessions s join users u on u.id = s.user_id where s.id = ${id}
    `.execute(database.handle.db)
    const inSql = rows[0]?.live
    const inTypeScript = isLive(testCase, testCase, AT)
    expect(inSql).toBe(inTypeScript)
    expect(inTypeScript).toBe(testCase.name === 'live')
  })

  it('is what the stores count, list and authenticate with', async () => {
    const stores = createStores(database.handle.db, { accessTokenTtl: 900 })
    // countLive leaves the user out: disabling an account revokes its sessions
    const sessionOnly = CASES.filter((testCase) => isLive(testCase, { disabledAt: null }, AT))
    expect(await stores.sessions.countLive(AT)).toBe(sessionOnly.length)
    for (const testCase of CASES) {
      const id = sessionIds.get(testCase.name) ?? ''
      const row = await database.handle.db
        .selectFrom('sessions')
        .select('user_id')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
      const found = await stores.sessions.findWithUser(id, row.user_id, AT)
      expect(found?.live, testCase.name).toBe(isLive(testCase, testCase, AT))
      const listed = await stores.sessions.listLive(row.user_id, AT)
      expect(listed.length === 1, testCase.name).toBe(isLive(testCase, { disabledAt: null }, AT))
    }
  })
})
