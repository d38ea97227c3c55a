import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // the revocation feed (GET /auth/revocations): one row per event, numbered by one sequence so
  // every instance hands out the same ids; appended under an advisory lock (store/revocation-events.ts)
  // so ids become visible in order and a poller reading `id > last` never skips one
  await db.schema
    .createTable('revocation_events')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('session', 'user')`))
    // no foreign keys: an event outlives the session, user or client it names (a delete is one)
    .addColumn('sid', 'uuid')
    .addColumn('sub', 'text', (col) => col.notNull())
    .addColumn('not_before', 'timestamptz')
    // when the last access token the event concerns expires anyway; kept at least until then
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addCheckConstraint(
      'revocation_events_shape',
      sql`(kind = 'session' and sid is not null) or (kind = 'user' and not_before is not null)`,
    )
    .execute()
  await db.schema
    .createIndex('revocation_events_expires_at_idx')
    .on('revocation_events')
    .column('expires_at')
    .execute()
  // the highest id pruned: a subscriber resuming from below it missed events and gets `reset`
  await db.schema
    .createTable('revocation_feed')
    .addColumn('id', 'integer', (col) => col.primaryKey().check(sql`id = 1`))
    .addColumn('pruned_through', 'bigint', (col) => col.notNull())
    .execute()
  await sql`insert into revocation_feed (id, pruned_through) values (1, 0)`.execute(db)
  // a user's access tokens issued before this are stale (roles or email changed, disabled): the
  // Bearer routes refuse them, and new tokens are issued with `iat` at or after it
  await db.schema.alterTable('users').addColumn('tokens_not_before', 'timestamptz').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('tokens_not_before').execute()
  await db.schema.dropTable('revocation_feed').ifExists().execute()
  await db.schema.dropTable('revocation_events').ifExists().execute()
}
