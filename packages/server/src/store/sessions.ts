import type { Session } from './database.js'
import type { Db } from './db.js'

export interface NewSession {
  id: string
  userId: string
  createdAt: Date
  idleExpiresAt: Date
  absoluteExpiresAt: Date
  userAgent: string | null
  ip: string | null
}

export type RevokeReason =
  | 'logout'
  | 'logout_all'
  | 'revoked_by_user'
  | 'refresh_token_reused'
  | 'password_reset'
  | 'password_changed'
  | 'user_disabled'

export interface SessionStore {
  create(session: NewSession): Promise<void>
  /** The session when it exists, belongs to `userId`, is not revoked and has not expired at `now`. */
  findLive(id: string, userId: string, now: Date): Promise<Session | undefined>
  listLive(userId: string, now: Date): Promise<Session[]>
  /** How many sessions of all users are live at `now` (the active-sessions gauge). */
  countLive(now: Date): Promise<number>
  /** Revokes one live session; answers whether it was live. */
  revoke(id: string, userId: string | undefined, at: Date, reason: RevokeReason): Promise<boolean>
  revokeAllForUser(userId: string, at: Date, reason: RevokeReason): Promise<number>
  revokeAllForUserExcept(
    userId: string,
    keepSessionId: string,
    at: Date,
    reason: RevokeReason,
  ): Promise<number>
}

export function createSessionStore(db: Db): SessionStore {
  const live = (now: Date) =>
    db
      .selectFrom('sessions')
      .selectAll()
      .where('revoked_at', 'is', null)
      .where('idle_expires_at', '>', now)
      .where('absolute_expires_at', '>', now)

  return {
    async create(session) {
      await db
        .insertInto('sessions')
        .values({
          id: session.id,
          user_id: session.userId,
          created_at: session.createdAt,
          last_used_at: session.createdAt,
          idle_expires_at: session.idleExpiresAt,
          absolute_expires_at: session.absoluteExpiresAt,
          user_agent: session.userAgent,
          ip: session.ip,
        })
        .execute()
    },
    findLive: (id, userId, now) =>
      live(now).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst(),
    listLive: (userId, now) =>
      live(now).where('user_id', '=', userId).orderBy('last_used_at', 'desc').execute(),
    async countLive(now) {
      const row = await db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
        .where('revoked_at', 'is', null)
        .where('idle_expires_at', '>', now)
        .where('absolute_expires_at', '>', now)
        .executeTakeFirstOrThrow()
      return Number(row.count)
    },
    async revoke(id, userId, at, reason) {
      let query = db
        .updateTable('sessions')
        .set({ revoked_at: at, revoked_reason: reason })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
      if (userId !== undefined) query = query.where('user_id', '=', userId)
      const result = await query.executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async revokeAllForUserExcept(userId, keepSessionId, at, reason) {
      const result = await db
        .updateTable('sessions')
        .set({ revoked_at: at, revoked_reason: reason })
        .where('user_id', '=', userId)
        .where('id', '!=', keepSessionId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return Number(result.numUpdatedRows)
    },
    async revokeAllForUser(userId, at, reason) {
      const result = await db
        .updateTable('sessions')
        .set({ revoked_at: at, revoked_reason: reason })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return Number(result.numUpdatedRows)
    },
  }
}
