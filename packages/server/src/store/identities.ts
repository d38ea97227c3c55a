import type { Db } from './db.js'

/** An account's identity at a sign-in provider. */
export interface IdentityRecord {
  id: string
  userId: string
  provider: string
  issuer: string
  subject: string
  email: string | null
  emailVerified: boolean
  linkedAt: Date
}

export interface IdentityStore {
  /** The identity with this key, if an account has it. */
  find(key: { provider: string; issuer: string; subject: string }): Promise<IdentityRecord | undefined>
  /** Links an identity; `'taken'` when an account already has this (provider, issuer, subject). */
  link(identity: IdentityRecord): Promise<IdentityRecord | 'taken'>
  /** Records the provider's email as it is now, at a sign-in. */
  updateEmail(id: string, email: string | null, emailVerified: boolean): Promise<void>
  listForUser(userId: string): Promise<IdentityRecord[]>
  /** Unlinks the user's identity; false when the user has no identity with this id. */
  remove(userId: string, id: string): Promise<boolean>
  /**
   * Locks the user's row until the transaction ends, so two unlinks at once cannot each leave
   * the other as the last way in and together leave none.
   */
  lockOwner(userId: string): Promise<void>
}

type Row = {
  id: string
  user_id: string
  provider: string
  issuer: string
  subject: string
  email: string | null
  email_verified: boolean
  linked_at: Date
}

const toRecord = (row: Row): IdentityRecord => ({
  id: row.id,
  userId: row.user_id,
  provider: row.provider,
  issuer: row.issuer,
  subject: row.subject,
  email: row.email,
  emailVerified: row.email_verified,
  linkedAt: row.linked_at,
})

export function createIdentityStore(db: Db): IdentityStore {
  return {
    async find({ provider, issuer, subject }) {
      const row = await db
        .selectFrom('identities')
        .selectAll()
        .where('provider', '=', provider)
        .where('issuer', '=', issuer)
        .where('subject', '=', subject)
        .executeTakeFirst()
      return row && toRecord(row)
    },
    async link(identity) {
      // ON CONFLICT rather than catching the unique violation, which would abort the transaction
      const row = await db
        .insertInto('identities')
        .values({
          id: identity.id,
          user_id: identity.userId,
          provider: identity.provider,
          issuer: identity.issuer,
          subject: identity.subject,
          email: identity.email,
          email_verified: identity.emailVerified,
          linked_at: identity.linkedAt,
        })
        .onConflict((conflict) => conflict.columns(['provider', 'issuer', 'subject']).doNothing())
        .returningAll()
        .executeTakeFirst()
      return row ? toRecord(row) : 'taken'
    },
    async updateEmail(id, email, emailVerified) {
      await db
        .updateTable('identities')
        .set({ email, email_verified: emailVerified })
        .where('id', '=', id)
        .execute()
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom('identities')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('linked_at')
        .orderBy('id')
        .execute()
      return rows.map(toRecord)
    },
    async remove(userId, id) {
      const result = await db
        .deleteFrom('identities')
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst()
      return result.numDeletedRows > 0n
    },
    async lockOwner(userId) {
      await db.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute()
    },
  }
}
