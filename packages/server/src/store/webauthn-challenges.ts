import type { Db } from './db.js'
import { toWebauthnChallenge, type WebauthnChallengeRecord, type WebauthnPurpose } from './records.js'

export interface WebauthnChallengeStore {
  insert(challenge: {
    id: string
    challenge: string
    purpose: WebauthnPurpose
    userId: string | null
    mfaTokenId: string | null
    createdAt: Date
    expiresAt: Date
  }): Promise<void>
  /**
   * Spends a challenge of `purpose` that is unused and unexpired at `at`, once: of two requests
   * with one challenge, one gets it. Undefined when it is unknown, used, expired or for another
   * purpose.
   */
  take(id: string, purpose: WebauthnPurpose, at: Date): Promise<WebauthnChallengeRecord | undefined>
  /** Deletes the challenges that expired before `before` (used or not); how many went. */
  deleteExpired(before: Date): Promise<number>
}

export function createWebauthnChallengeStore(db: Db): WebauthnChallengeStore {
  return {
    async insert(challenge) {
      await db
        .insertInto('webauthn_challenges')
        .values({
          id: challenge.id,
          challenge: challenge.challenge,
          purpose: challenge.purpose,
          user_id: challenge.userId,
          mfa_token_id: challenge.mfaTokenId,
          created_at: challenge.createdAt,
          expires_at: challenge.expiresAt,
        })
        .execute()
    },
    async take(id, purpose, at) {
      const row = await db
        .updateTable('webauthn_challenges')
        .set({ used_at: at })
        .where('id', '=', id)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', at)
        .returningAll()
        .executeTakeFirst()
      return row && toWebauthnChallenge(row)
    },
    async deleteExpired(before) {
      const result = await db
        .deleteFrom('webauthn_challenges')
        .where('expires_at', '<', before)
        .executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  }
}
