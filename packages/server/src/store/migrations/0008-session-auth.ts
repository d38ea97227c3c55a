import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // how the session's user signed in, for the access tokens' `amr`, `acr` and `auth_time`: kept on
  // the session so a refresh hands the same ones on, and step-up renews them. A session opened
  // before this migration was opened with a password, at its creation.
  await db.schema
    .alterTable('sessions')
    .addColumn('amr', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{pwd}'::text[]`))
    .addColumn('acr', 'text', (col) => col.notNull().defaultTo('urn:tessera:pwd'))
    .addColumn('authenticated_at', 'timestamptz')
    .execute()
  await sql`update sessions set authenticated_at = created_at`.execute(db)
  await db.schema
    .alterTable('sessions')
    .alterColumn('authenticated_at', (col) => col.setNotNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('sessions')
    .dropColumn('amr')
    .dropColumn('acr')
    .dropColumn('authenticated_at')
    .execute()
}
