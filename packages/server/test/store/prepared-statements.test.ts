import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { type DatabaseHandle, openDatabase } from '../../src/store/db.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { preparedAs } from '../../src/store/postgres-pool.js'
import { createStores } from '../../src/store/stores.js'
import { freshDatabase, freshPostgresUrl, TEST_DATABASE_URL } from '../helpers/database.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()))
})

/** A PostgreSQL database with a pool of one connection, so every statement shares one session. */
async function oneConnection(preparedStatements = true): Promise<DatabaseHandle> {
  const database = await freshPostgresUrl()
  if (!database) throw new Error('TEST_DATABASE_URL is not set')
  const handle = await openDatabase(
    { kind: 'postgres', url: database.url },
    { poolSize: 1, preparedStatements },
  )
  cleanups.push(async () => {
    await handle.close()
    await database.drop()
  })
  return handle
}

const backendPid = async (handle: DatabaseHandle) =>
  (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(handle.db)).rows[0]?.pid

describe.skipIf(!TEST_DATABASE_URL)('prepared statements on PostgreSQL', () => {
  it('prepares a marked statement once per connection and runs it with new parameters each time', async () => {
    const handle = await oneConnection()
    const double = (n: number) =>
      sql<{ doubled: number }>`${sql.raw(preparedAs('test_double'))}select ${n}::int * 2 as doubled`.execute(
        handle.db,
      )
    expect((await double(2)).rows).toEqual([{ doubled: 4 }])
    expect((await double(21)).rows).toEqual([{ doubled: 42 }])
    const prepared = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(handle.db)
    expect(prepared.rows).toEqual([{ name: 'test_double' }])
  })

  it('prepares nothing with preparedStatements off (TESSERA_DB_PREPARED_STATEMENTS=off)', async () => {
    const handle = await oneConnection(false)
    const one = () =>
      sql<{ one: number }>`${sql.raw(preparedAs('test_off'))}select 1 as one`.execute(handle.db)
    expect((await one()).rows).toEqual([{ one: 1 }])
    expect((await one()).rows).toEqual([{ one: 1 }])
    const prepared = await sql`select name from pg_prepared_statements`.execute(handle.db)
    expect(prepared.rows).toEqual([])
  })

  it('still answers when a migration changed what a prepared statement returns, and replaces the connection', async () => {
    const handle = await oneConnection()
    await sql`create table widgets (id int)`.execute(handle.db)
    await sql`insert into widgets values (1)`.execute(handle.db)
    const widgets = () => sql`${sql.raw(preparedAs('test_widgets'))}select * from widgets`.execute(handle.db)
    expect((await widgets()).rows).toEqual([{ id: 1 }])
    const before = await backendPid(handle)
    // what PostgreSQL refuses to run under the old plan: "cached plan must not change result type"
    await sql`alter table widgets add column label text default 'new'`.execute(handle.db)
    expect((await widgets()).rows).toEqual([{ id: 1, label: 'new' }])
    // that connection kept the stale statement: the pool gave it up
    expect(await backendPid(handle)).not.toBe(before)
    expect((await widgets()).rows).toEqual([{ id: 1, label: 'new' }])
  })
})

describe.skipIf(!TEST_DATABASE_URL)("a login's statements on PostgreSQL", () => {
  it('prepare the user lookup and the audit row once per connection, and answer as before', async () => {
    const handle = await oneConnection()
    await migrateToLatest(handle.db)
    const stores = createStores(handle.db, { accessTokenTtl: 900 })
    const at = new Date('2026-12-07T12:00:00.000Z')
    const created = await stores.users.create({
      id: randomUUID(),
      email: 'ada@example.com',
      emailNormalized: 'ada@example.com',
      name: null,
      passwordHash: 'x',
      roles: ['user'],
      createdAt: at,
    })
    if (created === 'email_taken') throw new Error('a fresh database holds no user')
    const user = created
    for (const n of [1, 2]) {
      expect((await stores.users.findByEmail('ada@example.com'))?.id).toBe(user.id)
      await stores.authEvents.insert({
        id: randomUUID(),
        type: 'login_succeeded',
        userId: user.id,
        sessionId: null,
        ip: '127.0.0.1',
        userAgent: null,
        detail: { attempt: n },
        createdAt: at,
      })
    }
    expect(await stores.users.findByEmail('nobody@example.com')).toBeUndefined()
    expect((await stores.authEvents.listForUser(user.id, 10)).map((event) => event.detail)).toEqual(
      expect.arrayContaining([{ attempt: 1 }, { attempt: 2 }]),
    )
    const prepared = await sql<{
      name: string
    }>`select name from pg_prepared_statements order by name`.execute(handle.db)
    expect(prepared.rows.map((row) => row.name)).toEqual(
      expect.arrayContaining(['find_user_by_email', 'insert_auth_event']),
    )
  })
})

describe('the prepared-statement marker elsewhere', () => {
  it('is a comment: the database runs the statement as it is', async () => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    const result = await sql<{ one: number }>`${sql.raw(preparedAs('test_one'))}select 1 as one`.execute(
      database.handle.db,
    )
    expect(result.rows).toEqual([{ one: 1 }])
  })
})
