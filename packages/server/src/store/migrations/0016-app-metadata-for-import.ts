import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // `tessera users import` stores a row's appMetadata here. Migration 0014 (the admin API) adds the
  // same column; `if not exists` lets either come first, and the definitions agree
  await sql`alter table users add column if not exists app_metadata jsonb not null default '{}'::jsonb`.execute(
    db,
  )
}

export async function down(): Promise<void> {
  // the column may be 0014's: dropping it here would take the admin API's data with it
}
