import { type Kysely, sql } from 'kysely'
import { mailboxKey } from '../../email-address.js'

// enough rows per read to be quick, few enough to keep memory flat on a large table
const BATCH = 5_000

interface UserRow {
  id: string
  email: string
  email_normalized: string
  created_at: Date
}

/**
 * Recomputes `users.email_normalized` with the mailbox rule of flows/email.ts (IDNA domain, NFKC
 * and case-folded local part), which replaced "NFC, lower case". Accounts that now share a key are
 * never merged: the one already holding it (else the oldest) keeps it; each other one is parked
 * under `conflict:<id>`, which no address maps to, and listed in `email_key_conflicts` for the
 * operator (`tessera users conflicts`, and a warning at every start while any remain).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('email_key_conflicts')
    .addColumn('user_id', 'uuid', (col) => col.primaryKey().references('users.id').onDelete('cascade'))
    // the key the account would have, and the account that holds it
    .addColumn('wanted_key', 'text', (col) => col.notNull())
    .addColumn('held_by', 'uuid', (col) => col.notNull())
    .addColumn('found_at', 'timestamptz', (col) => col.notNull())
    .execute()

  // only the rows whose key changes are kept in memory: those with non-ASCII or odd forms, few
  const changed: (UserRow & { key: string })[] = []
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const { rows } = await sql<UserRow>`
      select id, email, email_normalized, created_at from users where id > ${after} order by id limit ${BATCH}
    `.execute(db)
    for (const row of rows) {
      const key = mailboxKey(row.email)
      if (key !== row.email_normalized) changed.push({ ...row, key })
    }
    const last = rows.at(-1)
    if (!last || rows.length < BATCH) break
    after = last.id
  }
  if (changed.length === 0) return

  // out of the way first, so that keys swapping between rows never meet the unique index
  for (const row of changed) {
    await sql`update users set email_normalized = ${`migrating:${row.id}`} where id = ${row.id}`.execute(db)
  }
  changed.sort((a, b) => a.created_at.getTime() - b.created_at.getTime())
  for (const row of changed) {
    const { rows: holders } = await sql<{ id: string }>`
      select id from users where email_normalized = ${row.key}
    `.execute(db)
    const holder = holders[0]
    if (!holder) {
      await sql`update users set email_normalized = ${row.key} where id = ${row.id}`.execute(db)
      continue
    }
    await sql`update users set email_normalized = ${`conflict:${row.id}`} where id = ${row.id}`.execute(db)
    await sql`
      insert into email_key_conflicts (user_id, wanted_key, held_by, found_at)
      values (${row.id}, ${row.key}, ${holder.id}, now())
    `.execute(db)
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('email_key_conflicts').ifExists().execute()
}
