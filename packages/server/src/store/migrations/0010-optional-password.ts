import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // a user may have no password: a magic link that first verifies an address someone else may
  // have registered removes the password that person set (API.md, "Pre-hijacking"); the owner
  // sets one through forgot-password
  await db.schema
    .alterTable('users')
    .alterColumn('password_hash', (col) => col.dropNotNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // an empty hash verifies no password (passwords/hasher.ts), so those accounts stay passwordless
  await sql`update users set password_hash = '' where password_hash is null`.execute(db)
  await db.schema
    .alterTable('users')
    .alterColumn('password_hash', (col) => col.setNotNull())
    .execute()
}
