import type { Db } from './db.js'

/** `oauth_code`: the 60-second code a provider sign-in returns to the app, bound to its PKCE challenge. */
export const ONE_TIME_PURPOSES = [
  'password_reset',
  'email_verification',
  'magic_link',
  'oauth_code',
  'oauth_link',
  /** POST /auth/email: mailed to the new address; `email` is that address. */
  'email_change',
] as const
export type OneTimePurpose = (typeof ONE_TIME_PURPOSES)[number]

export interface OneTimeTokenStore {
  /** Stores a new token and voids the user's unused ones of the same purpose: only the newest link works. */
  issue(token: {
    id: string
    userId: string
    purpose: OneTimePurpose
    hash: Uint8Array
    email: string
    createdAt: Date
    expiresAt: Date
    /** `oauth_code`: the S256 challenge whose verifier alone may use the token. */
    codeChallenge?: string
    /** `oauth_link`: what the token carries to its use (JSON). */
    payload?: unknown
  }): Promise<void>
  /** The user and email of a live token, without using it up (to check a new password first). */
  peek(
    hash: Uint8Array,
    purpose: OneTimePurpose,
    now: Date,
  ): Promise<{ userId: string; email: string } | undefined>
  /**
   * Uses the token up if it is live (and bound to `codeChallenge`, when given): one UPDATE, so of
   * two parallel uses exactly one gets the row.
   */
  consume(
    hash: Uint8Array,
    purpose: OneTimePurpose,
    now: Date,
    codeChallenge?: string,
  ): Promise<{ userId: string; email: string; payload: unknown } | undefined>
  /** Voids every unused token of the user for that purpose (after a password change or reset). */
  voidAll(userId: string, purpose: OneTimePurpose, now: Date): Promise<void>
}

export function createOneTimeTokenStore(db: Db): OneTimeTokenStore {
  const voidAll = async (userId: string, purpose: OneTimePurpose, now: Date) => {
    await db
      .updateTable('one_time_tokens')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .execute()
  }
  return {
    async issue(token) {
      await voidAll(token.userId, token.purpose, token.createdAt)
      await db
        .insertInto('one_time_tokens')
        .values({
          id: token.id,
          user_id: token.userId,
          purpose: token.purpose,
          token_hash: token.hash,
          email: token.email,
          created_at: token.createdAt,
          expires_at: token.expiresAt,
          code_challenge: token.codeChallenge ?? null,
          payload: token.payload === undefined ? null : JSON.stringify(token.payload),
        })
        .execute()
    },
    async peek(hash, purpose, now) {
      const row = await db
        .selectFrom('one_time_tokens')
        .select(['user_id', 'email'])
        .where('token_hash', '=', hash)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return row && { userId: row.user_id, email: row.email }
    },
    async consume(hash, purpose, now, codeChallenge) {
      let query = db
        .updateTable('one_time_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', hash)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
      // a token bound to a challenge is used only with it: another verifier leaves it untouched
      if (codeChallenge !== undefined) query = query.where('code_challenge', '=', codeChallenge)
      const row = await query.returning(['user_id', 'email', 'payload']).executeTakeFirst()
      return row && { userId: row.user_id, email: row.email, payload: row.payload }
    },
    voidAll,
  }
}
