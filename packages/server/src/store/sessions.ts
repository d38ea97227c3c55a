import { type RawBuilder, sql } from 'kysely'
import type { Db } from './db.js'
import {
  type SessionRecord,
  type SessionWithUserRow,
  sessionWithUserColumns,
  toSession,
  toSessionWithUser,
  type UserRecord,
} from './records.js'

/*
 * A live session, defined twice, side by side: `liveSession` in SQL for the queries (the rotation
 * statement, the authentication lookup, listLive, countLive) and `isLive` in TypeScript for a flow
 * deciding on a row it holds locked (refresh). The two must agree; test/store/live-session.test.ts
 * runs both on the same cases.
 */

/**
 * SQL: the session (table or alias `session`) is not revoked and has neither idled out nor reached
 * its absolute lifetime at `at`; with `user` (the joined users table), its user is not disabled.
 */
export function liveSession(at: Date, tables: { session: string; user?: string }): RawBuilder<boolean> {
  const column = (name: string) => sql.ref(`${tables.session}.${name}`)
  const session = sql<boolean>`${column('revoked_at')} is null and ${column('idle_expires_at')} > ${at} and ${column('absolute_expires_at')} > ${at}`
  if (tables.user === undefined) return session
  return sql<boolean>`${session} and ${sql.ref(`${tables.user}.disabled_at`)} is null`
}

/** TypeScript: the same as `liveSession` with the user, on records already read. */
export function isLive(
  session: Pick<SessionRecord, 'revokedAt' | 'idleExpiresAt' | 'absoluteExpiresAt'>,
  user: Pick<UserRecord, 'disabledAt'>,
  at: Date,
): boolean {
  return (
    session.revokedAt === null &&
    session.idleExpiresAt > at &&
    session.absoluteExpiresAt > at &&
    user.disabledAt === null
  )
}

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
  /**
   * The session with its user when the session exists, belongs to `userId` and is live at `now`
   * (its user enabled): what an access token needs to be honoured.
   */
  findLiveWithUser(
    id: string,
    userId: string,
    now: Date,
  ): Promise<{ session: SessionRecord; user: UserRecord } | undefined>
  /** The user's live sessions, most recently used first. */
  listLive(userId: string, now: Date): Promise<SessionRecord[]>
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
    async findLiveWithUser(id, userId, now) {
      const result = await sql<SessionWithUserRow>`
        select ${sessionWithUserColumns('s', 'u')}
        from sessions s join users u on u.id = s.user_id
        where s.id = ${id} and s.user_id = ${userId} and ${liveSession(now, { session: 's', user: 'u' })}
      `.execute(db)
      const row = result.rows[0]
      return row && toSessionWithUser(row)
    },
    async listLive(userId, now) {
      const rows = await db
        .selectFrom('sessions')
        .selectAll()
        .where(liveSession(now, { session: 'sessions' }))
        .where('user_id', '=', userId)
        .orderBy('last_used_at', 'desc')
        .execute()
      return rows.map(toSession)
    },
    async countLive(now) {
      const row = await db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
        .where(liveSession(now, { session: 'sessions' }))
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
