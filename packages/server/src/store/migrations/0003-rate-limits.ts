import { type Kysely, sql } from 'kysely'

/**
 * Rate-limit and lockout counters when no Redis is configured, in the shape rate-limiter-flexible's
 * RateLimiterPostgres reads and writes: `expire` is epoch milliseconds, null for never.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'varchar(255)', (col) => col.primaryKey())
    .addColumn('points', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('expire', 'bigint')
    .execute()
  // the periodic clean-up deletes by expiry
  await db.schema.createIndex('rate_limits_expire_idx').on('rate_limits').column('expire').execute()
  // a counter is cheap to lose and rewritten constantly: keep it out of the WAL on PostgreSQL
  // (PGlite has one process and no replicas; an unlogged table behaves like any other there)
  await sql`alter table rate_limits set unlogged`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('rate_limits').ifExists().execute()
}
