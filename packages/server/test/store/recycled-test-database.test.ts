import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '../../src/store/db.js'
import { migratedPgliteHandle } from '../helpers/pglite-snapshot.js'

// The embedded test databases are recycled (test/helpers/pglite-snapshot.ts): what one test leaves
// behind must never reach the next one, which must get a database exactly as migrated.

const addUser = (handle: DatabaseHandle) =>
  sql`insert into users (id, email, email_normalized, password_hash, created_at, updated_at)
      values (${randomUUID()}, 'a@example.com', 'a@example.com', 'x', now(), now())`.execute(handle.db)

const countOf = async (handle: DatabaseHandle, table: string): Promise<number> => {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(
    handle.db,
  )
  return rows[0]?.n ?? -1
}

describe('a recycled embedded test database', () => {
  it('holds none of the last test rows and all of the migrations own', async () => {
    const first = await migratedPgliteHandle()
    await addUser(first)
    await sql`update revocation_feed set pruned_through = 42`.execute(first.db)
    await first.close()
    // a query after close (a loop left running) fails rather than writing into the next database
    await expect(sql`select 1`.execute(first.db)).rejects.toThrow()

    const next = await migratedPgliteHandle()
    expect(await countOf(next, 'users')).toBe(0)
    const { rows } = await sql<{ id: string; pruned_through: string }>`
      select id::text, pruned_through::text from revocation_feed`.execute(next.db)
    expect(rows).toEqual([{ id: '1', pruned_through: '0' }])
    await next.close()
  })

  it('loses a transaction left open, and restarts sequences', async () => {
    const first = await migratedPgliteHandle()
    await sql`insert into revocation_events (kind, sub, not_before, expires_at, created_at) values ('user', 'x', now(), now(), now())`.execute(
      first.db,
    )
    await sql`begin`.execute(first.db)
    await addUser(first)
    await first.close()

    const next = await migratedPgliteHandle()
    expect(await countOf(next, 'users')).toBe(0)
    expect(await countOf(next, 'revocation_events')).toBe(0)
    const { rows } = await sql<{ last: string | null }>`
      select last_value::text as last from pg_sequences where sequencename = 'revocation_events_id_seq'`.execute(
      next.db,
    )
    // never called since the restart
    expect(rows[0]?.last ?? null).toBeNull()
    await next.close()
  })

  it('is not handed on when a test changed its schema', async () => {
    const first = await migratedPgliteHandle()
    await sql`create table scratch (id int)`.execute(first.db)
    await sql`alter table users add column nickname text`.execute(first.db)
    await first.close()

    const next = await migratedPgliteHandle()
    const { rows } = await sql<{ scratch: string | null; nickname: number }>`
      select to_regclass('scratch')::text as scratch,
        (select count(*)::int from information_schema.columns where table_name = 'users' and column_name = 'nickname') as nickname`.execute(
      next.db,
    )
    expect(rows).toEqual([{ scratch: null, nickname: 0 }])
    await next.close()
  })
})
