import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // one TOTP factor per user: pending (confirmed_at null) from setup until a first code confirms it.
  // The secret is sealed under a key derived from TESSERA_SECRET (keys/wrapping.ts), never stored
  // plain; last_used_step is the RFC 6238 time step of the last accepted code, so a code is
  // accepted once (a replay within its window is refused)
  await db.schema
    .createTable('totp_factors')
    .addColumn('user_id', 'uuid', (col) => col.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret_sealed', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('last_used_step', 'bigint')
    .execute()
  // recovery codes: 80 random bits each, shown once; only their SHA-256 is kept. A fast hash is
  // right for that much entropy (nothing to brute-force, unlike a password), so no argon2
  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'bytea', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    .addUniqueConstraint('recovery_codes_user_code', ['user_id', 'code_hash'])
    .execute()
  // the short-lived token between a right password and the second factor (POST /auth/mfa/verify):
  // only its SHA-256 is kept; it dies when spent, when it expires, or after too many wrong codes
  await db.schema
    .createTable('mfa_tokens')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'bytea', (col) => col.notNull().unique())
    // the amr value of the factor already used (`pwd`), carried into the session's amr
    .addColumn('first_factor', 'text', (col) => col.notNull())
    .addColumn('failures', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('spent_at', 'timestamptz')
    .execute()
  await db.schema.createIndex('mfa_tokens_expires_at_idx').on('mfa_tokens').column('expires_at').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('mfa_tokens').ifExists().execute()
  await db.schema.dropTable('recovery_codes').ifExists().execute()
  await db.schema.dropTable('totp_factors').ifExists().execute()
}
