import type { MfaTokenPurpose } from './database.js'
import type { Db } from './db.js'

export type { MfaTokenPurpose }

/** A pending second-factor sign-in (or enrolment), as the store hands it out. */
export interface MfaTokenRecord {
  id: string
  userId: string
  purpose: MfaTokenPurpose
  /** The amr value of the factor already used (`pwd`). */
  firstFactor: string
  failures: number
}

export interface MfaTokenStore {
  insert(token: {
    id: string
    userId: string
    hash: Uint8Array
    purpose: MfaTokenPurpose
    firstFactor: string
    createdAt: Date
    expiresAt: Date
  }): Promise<void>
  /**
   * The token of `purpose` when it is unspent, unexpired at `at` and has fewer than `maxFailures`
   * wrong codes.
   */
  findLive(
    hash: Uint8Array,
    purpose: MfaTokenPurpose,
    at: Date,
    maxFailures: number,
  ): Promise<MfaTokenRecord | undefined>
  /** Counts a wrong code against the token; answers its failures so far. */
  recordFailure(id: string): Promise<number>
  /** Spends a live token, once: false when another request spent it first, or it died meanwhile. */
  spend(id: string, at: Date, maxFailures: number): Promise<boolean>
  /**
   * Spends every unspent token of the user at `at` (a factor was added, the password changed, all
   * sessions ended): a sign-in or an enrolment begun before that cannot be finished after it.
   */
  voidForUser(userId: string, at: Date): Promise<number>
  /** Deletes the tokens that expired before `before` (spent or not: dead either way); how many went. */
  deleteExpired(before: Date): Promise<number>
}

export function createMfaTokenStore(db: Db): MfaTokenStore {
  return {
    async insert(token) {
      await db
        .insertInto('mfa_tokens')
        .values({
          id: token.id,
          user_id: token.userId,
          token_hash: token.hash,
          purpose: token.purpose,
          first_factor: token.firstFactor,
          created_at: token.createdAt,
          expires_at: token.expiresAt,
        })
        .execute()
    },
    async findLive(hash, purpose, at, maxFailures) {
      const row = await db
        .selectFrom('mfa_tokens')
        .select(['id', 'user_id', 'purpose', 'first_factor', 'failures'])
        .where('token_hash', '=', hash)
        .where('purpose', '=', purpose)
        .where('spent_at', 'is', null)
        .where('expires_at', '>', at)
        .where('failures', '<', maxFailures)
        .executeTakeFirst()
      return (
        row && {
          id: row.id,
          userId: row.user_id,
          purpose: row.purpose,
          firstFactor: row.first_factor,
          failures: row.failures,
        }
      )
    },
    async recordFailure(id) {
      const row = await db
        .updateTable('mfa_tokens')
        .set((eb) => ({ failures: eb('failures', '+', 1) }))
        .where('id', '=', id)
        .returning('failures')
        .executeTakeFirst()
      return row?.failures ?? 0
    },
    async spend(id, at, maxFailures) {
      const result = await db
        .updateTable('mfa_tokens')
        .set({ spent_at: at })
        .where('id', '=', id)
        .where('spent_at', 'is', null)
        .where('expires_at', '>', at)
        .where('failures', '<', maxFailures)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async voidForUser(userId, at) {
      const result = await db
        .updateTable('mfa_tokens')
        .set({ spent_at: at })
        .where('user_id', '=', userId)
        .where('spent_at', 'is', null)
        .executeTakeFirst()
      return Number(result.numUpdatedRows)
    },
    async deleteExpired(before) {
      const result = await db.deleteFrom('mfa_tokens').where('expires_at', '<', before).executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  }
}
