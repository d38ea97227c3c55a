import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // an mfa_tokens row is now one of two short-lived tokens after a first factor: `sign_in`, for
  // POST /auth/mfa/verify, or `enrol`, handed to a user whose role requires a second factor they do
  // not have yet (TESSERA_MFA_REQUIRED_ROLES): it serves only the enrolment routes
  await db.schema
    .alterTable('mfa_tokens')
    .addColumn('purpose', 'text', (col) =>
      col.notNull().defaultTo('sign_in').check(sql`purpose in ('sign_in', 'enrol')`),
    )
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mfa_tokens').dropColumn('purpose').execute()
}
