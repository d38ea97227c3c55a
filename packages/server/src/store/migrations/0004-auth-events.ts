import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('auth_events')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('type', 'text', (col) => col.notNull())
    // no foreign key on purpose: the log must outlive the account it is about (the `user_deleted`
    // event itself names a user that no longer exists), and a delete must not wait on, or rewrite,
    // history. The retention period (TESSERA_AUDIT_RETENTION) is what erases it.
    .addColumn('user_id', 'uuid')
    .addColumn('session_id', 'uuid')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('detail', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .execute()
  // "what happened to this account", newest first
  await db.schema
    .createIndex('auth_events_user_id_created_at_idx')
    .on('auth_events')
    .columns(['user_id', 'created_at'])
    .execute()
  // retention deletes and "what happened lately" scan by time
  await db.schema.createIndex('auth_events_created_at_idx').on('auth_events').column('created_at').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('auth_events').ifExists().execute()
}
