import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // service credentials (`tessera clients create`): what calls /oauth/token, /oauth/introspect and
  // the revocation feed. The secret is 256 random bits shown once; only its SHA-256 is kept. A fast
  // hash is right for that much entropy (nothing to brute-force, unlike a password), so no argon2.
  await db.schema
    .createTable('service_clients')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('secret_hash', 'bytea', (col) => col.notNull())
    .addColumn('scopes', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    // kept after revocation: the operator sees what existed, and a revoked id is never reused
    .addColumn('revoked_at', 'timestamptz')
    // moved at most once a minute (flows/service-clients.ts), so a busy client costs no write per call
    .addColumn('last_used_at', 'timestamptz')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('service_clients').ifExists().execute()
}
