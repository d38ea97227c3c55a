import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { migrateTo, migrateToLatest } from '../../src/store/migrate.js'
import { createStores } from '../../src/store/stores.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'

let database: TestDatabase | undefined
afterEach(async () => {
  await database?.drop()
  database = undefined
})

/** A user row as a version before migration 0005 wrote it: key = trimmed, NFC, lower case. */
async function insertOldUser(
  db: TestDatabase['handle']['db'],
  email: string,
  createdAt: Date,
): Promise<string> {
  const id = randomUUID()
  await sql`
    insert into users (id, email, email_normalized, name, password_hash, roles, created_at, updated_at)
    values (${id}, ${email}, ${email.normalize('NFC').toLowerCase()}, null, 'x', '{user}', ${createdAt}, ${createdAt})
  `.execute(db)
  return id
}

describe('migration 0005: mailbox keys', () => {
  it('recomputes every key and parks, never merges, accounts that now share a mailbox', async () => {
    database = await freshDatabase({ empty: true })
    const { db } = database.handle
    await migrateTo(db, '0004-auth-events')
    const day = (n: number) => new Date(Date.UTC(2026, 0, n))
    const plain = await insertOldUser(db, 'Ada@Example.com', day(1))
    const fullwidth = await insertOldUser(db, 'ａｄａ@example.com', day(2))
    const bold = await insertOldUser(db, '𝐚da@ｅｘａｍｐｌｅ.com', day(3))
    const alone = await insertOldUser(db, 'grace@ＢÜCHER.example', day(4))
    const ascii = await insertOldUser(db, 'linus@example.org', day(5))

    await migrateToLatest(db)

    const keys = Object.fromEntries(
      (
        await sql<{
          id: string
          email_normalized: string
          email: string
        }>`select id, email, email_normalized from users`.execute(db)
      ).rows.map((row) => [row.id, row]),
    )
    // the account that held the key keeps it; the address as typed is never changed
    expect(keys[plain]).toMatchObject({ email_normalized: 'ada@example.com', email: 'Ada@Example.com' })
    expect(keys[alone]?.email_normalized).toBe('grace@xn--bcher-kva.example')
    expect(keys[ascii]?.email_normalized).toBe('linus@example.org')
    // the later spellings are parked under a key no address maps to, and listed
    expect(keys[fullwidth]?.email_normalized).toBe(`conflict:${fullwidth}`)
    expect(keys[bold]?.email_normalized).toBe(`conflict:${bold}`)
    expect(keys[fullwidth]?.email).toBe('ａｄａ@example.com')
    const conflicts = await createStores(db, { accessTokenTtl: 900 }).users.emailKeyConflicts()
    expect(conflicts.map((conflict) => [conflict.userId, conflict.heldBy.userId])).toEqual([
      [fullwidth, plain],
      [bold, plain],
    ])
    expect(conflicts[0]?.heldBy.email).toBe('Ada@Example.com')
  })

  it('moves a key to a row while its holder moves away, without tripping the unique index', async () => {
    database = await freshDatabase({ empty: true })
    const { db } = database.handle
    await migrateTo(db, '0004-auth-events')
    // a row holding (from a hand edit, say) the key another row moves to, while itself moving away:
    // updated in the wrong order, the two would meet in the unique index
    const moving = await insertOldUser(db, 'ＢＯＢ@example.com', new Date(Date.UTC(2026, 0, 1)))
    await sql`update users set email_normalized = 'carol@example.com' where id = ${moving}`.execute(db)
    const other = await insertOldUser(db, 'ｃａｒｏｌ@example.com', new Date(Date.UTC(2026, 0, 2)))
    await migrateToLatest(db)
    const { rows } = await sql<{
      id: string
      email_normalized: string
    }>`select id, email_normalized from users order by created_at`.execute(db)
    expect(rows).toEqual([
      { id: moving, email_normalized: 'bob@example.com' },
      { id: other, email_normalized: 'carol@example.com' },
    ])
    expect(await createStores(db, { accessTokenTtl: 900 }).users.emailKeyConflicts()).toEqual([])
  })
})
