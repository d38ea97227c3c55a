import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // WebAuthn credentials: the public key only (the private key never leaves the authenticator).
  // credential_id is the base64url id the browser answers with, unique across users: a login
  // finds its passkey (and so its user) by it. counter is the signature counter (uint32, hence
  // bigint), checked and moved forward on each use; device_type and backed_up are the
  // backup-eligible and backup-state flags (multiDevice: a synced passkey, amr `swk`)
  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('credential_id', 'text', (col) => col.notNull().unique())
    .addColumn('public_key', 'bytea', (col) => col.notNull())
    .addColumn('counter', 'bigint', (col) => col.notNull().defaultTo(0))
    .addColumn('transports', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('device_type', 'text', (col) =>
      col.notNull().check(sql`device_type in ('singleDevice', 'multiDevice')`),
    )
    .addColumn('backed_up', 'boolean', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_used_at', 'timestamptz')
    .execute()
  await db.schema.createIndex('passkeys_user_id_idx').on('passkeys').column('user_id').execute()
  // the challenges of WebAuthn ceremonies: single use (used_at), 5 minutes, and bound to what they
  // serve: a registration or a step-up to its user, a second factor to its mfaToken, a passkey
  // login to nobody (the credential names the user)
  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('challenge', 'text', (col) => col.notNull())
    .addColumn('purpose', 'text', (col) =>
      col.notNull().check(sql`purpose in ('register', 'login', 'mfa', 'step-up')`),
    )
    .addColumn('user_id', 'uuid', (col) => col.references('users.id').onDelete('cascade'))
    .addColumn('mfa_token_id', 'uuid', (col) => col.references('mfa_tokens.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute()
  await db.schema
    .createIndex('webauthn_challenges_expires_at_idx')
    .on('webauthn_challenges')
    .column('expires_at')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webauthn_challenges').ifExists().execute()
  await db.schema.dropTable('passkeys').ifExists().execute()
}
