import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { migrateTo, migrateToLatest } from '../../src/store/migrate.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'

let database: TestDatabase | undefined
afterEach(async () => {
  await database?.drop()
  database = undefined
})

async function insertUser(db: TestDatabase['handle']['db'], email: string): Promise<string> {
  const id = randomUUID()
  const at = new Date(Date.UTC(2026, 0, 1))
  await sql`
    insert into users (id, email, email_normalized, name, password_hash, roles, created_at, updated_at)
    values (${id}, ${email}, ${email}, null, null, '{user}', ${at}, ${at})
  `.execute(db)
  return id
}

const metadataOf = async (db: TestDatabase['handle']['db'], id: string) =>
  (await sql<{ app_metadata: unknown }>`select app_metadata from users where id = ${id}`.execute(db)).rows[0]
    ?.app_metadata

describe('migration 0016: users.app_metadata for the import', () => {
  it('adds the column with {} for every existing account', async () => {
    database = await freshDatabase({ empty: true })
    const { db } = database.handle
    await migrateTo(db, '0013-identities')
    const id = await insertUser(db, 'old@example.com')
    await migrateToLatest(db)
    expect(await metadataOf(db, id)).toEqual({})
  })

  it('keeps the column and its data when another migration (the admin API 0014) added it first', async () => {
    database = await freshDatabase({ empty: true })
    const { db } = database.handle
    await migrateTo(db, '0013-identities')
    await sql`alter table users add column app_metadata jsonb not null default '{}'::jsonb`.execute(db)
    const id = await insertUser(db, 'tenant@example.com')
    await sql`update users set app_metadata = '{"tenant":"t1"}' where id = ${id}`.execute(db)
    await migrateToLatest(db)
    expect(await metadataOf(db, id)).toEqual({ tenant: 't1' })
  })
})
