import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    // what an administrator keeps about the user for other systems (a plan, a tenant): a JSON
    // object of at most 2 KiB (checked by the flows), the access tokens' `app` claim
    .addColumn('app_metadata', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    // the last sign-in that opened a session (any method); null until the first after this migration
    .addColumn('last_login_at', 'timestamptz')
    .execute()
  // the admin list pages by (created_at, id): a keyset, stable while users are added
  await db.schema.createIndex('users_created_at_id_idx').on('users').columns(['created_at', 'id']).execute()
  // the audit query pages by (created_at, id) too, newest first, and filters by type
  await db.schema
    .createIndex('auth_events_created_at_id_idx')
    .on('auth_events')
    .columns(['created_at', 'id'])
    .execute()
  await db.schema
    .createIndex('auth_events_type_created_at_idx')
    .on('auth_events')
    .columns(['type', 'created_at'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('auth_events_type_created_at_idx').ifExists().execute()
  await db.schema.dropIndex('auth_events_created_at_id_idx').ifExists().execute()
  await db.schema.dropIndex('users_created_at_id_idx').ifExists().execute()
  await db.schema.alterTable('users').dropColumn('app_metadata').dropColumn('last_login_at').execute()
}
