import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // an account's identities at sign-in providers: one per (provider, issuer, subject), the key an
  // OpenID provider promises stable (the email is not: it changes and may be reassigned)
  await db.schema
    .createTable('identities')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('provider', 'text', (col) => col.notNull())
    .addColumn('issuer', 'text', (col) => col.notNull())
    .addColumn('subject', 'text', (col) => col.notNull())
    .addColumn('email', 'text')
    .addColumn('email_verified', 'boolean', (col) => col.notNull())
    .addColumn('linked_at', 'timestamptz', (col) => col.notNull())
    .addUniqueConstraint('identities_provider_subject_key', ['provider', 'issuer', 'subject'])
    .execute()
  await db.schema.createIndex('identities_user_id_idx').on('identities').column('user_id').execute()
  // the one-time code of a provider sign-in is bound to the S256 challenge of the app that started
  // it: only its verifier exchanges the code
  await db.schema
    .alterTable('one_time_tokens')
    .addColumn('code_challenge', 'text')
    // `oauth_link`: the provider identity the code links once exchanged (provider, issuer, subject, email)
    .addColumn('payload', 'jsonb')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('one_time_tokens').dropColumn('code_challenge').dropColumn('payload').execute()
  await db.schema.dropTable('identities').ifExists().execute()
}
