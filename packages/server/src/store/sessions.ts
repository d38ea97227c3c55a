import { type RawBuilder, sql } from 'kysely'
import type { Db } from './db.js'
import {
  type SessionAuth,
  type SessionRecord,
  type SessionWithUserRow,
  sessionWithUserColumns,
  toSession,
  toSessionWithUser,
  type UserRecord,
} from './records.js'
import { type RevocationWriter, withRevocations } from './revocation-events.js'
import { openSessionRow, type SessionOpening } from './session-opening.js'
import { createWebhookStore, type WebhookOptions } from './webhooks.js'

/*
 * A live session, defined twice, side by side: `liveSession` in SQL for the queries (the rotation
 * statement, the authentication lookup's `live`, listLive, countLive) and `isLive` in TypeScript for a flow
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
  auth: SessionAuth
}

export type RevokeReason =
  | 'logout'
  | 'logout_all'
  | 'revoked_by_user'
  | 'refresh_token_reused'
  | 'password_reset'
  | 'password_changed'
  | 'user_disabled'
  /** A magic link first verified the address: whoever registered it before keeps nothing. */
  | 'magic_link_takeover'
  /** An administrator revoked every session of the user (DELETE /admin/users/:id/sessions). */
  | 'revoked_by_admin'

export interface SessionStore {
  /**
   * Opens a session with its first refresh token in one statement (session-opening.ts), with its
   * `session.created` webhook; false when `unlessSecondFactor` found a second factor.
   */
  open(opening: SessionOpening): Promise<boolean>
  /**
   * The session with its user when the session exists and belongs to `userId`, and whether it is
   * live at `now` (its user enabled): what an access token needs to be honoured.
   */
  findWithUser(
    id: string,
    userId: string,
    now: Date,
  ): Promise<{ session: SessionRecord; user: UserRecord; live: boolean } | undefined>
  /** The user's live sessions, most recently used first. */
  listLive(userId: string, now: Date): Promise<SessionRecord[]>
  /** How many sessions of all users are live at `now` (the active-sessions gauge). */
  countLive(now: Date): Promise<number>
  /** Records a step-up on a live session: its tokens from now on claim `auth`. Whether it was live. */
  setAuth(id: string, auth: SessionAuth, now: Date): Promise<boolean>
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

export interface SessionStoreOptions {
  /** Seconds an access token lives: a revoked session's event is kept until its last token expires. */
  accessTokenTtl: number
  writer: RevocationWriter
  /** The webhook outbox's options: `session.created` and `session.revoked` are enqueued with the change. */
  webhooks?: WebhookOptions | undefined
}

export function createSessionStore(db: Db, options: SessionStoreOptions): SessionStore {
  /**
   * Revokes the live sessions matching `where`, with a `session` revocation event for each, in one
   * transaction (the caller's, or its own).
   */
  function revokeWhere(where: RawBuilder<unknown>, at: Date, reason: RevokeReason): Promise<string[]> {
    const expiresAt = new Date(at.getTime() + options.accessTokenTtl * 1000)
    return withRevocations(db, options.writer, async (tx, record) => {
      const revoked = await sql<{ id: string; user_id: string }>`
        update sessions set revoked_at = ${at}, revoked_reason = ${reason}
        where ${where} and revoked_at is null
        returning id, user_id
      `.execute(tx)
      record(
        revoked.rows.map(
          (row) => ({ kind: 'session', sid: row.id, sub: row.user_id, expiresAt, at }) as const,
        ),
      )
      // every revocation tells the webhook too, in the same transaction, whichever flow made it
      const outbox = createWebhookStore(tx, options.webhooks)
      for (const row of revoked.rows) {
        await outbox.enqueue({
          type: 'session.revoked',
          data: { session: { id: row.id, userId: row.user_id }, reason },
        })
      }
      return revoked.rows.map((row) => row.id)
    })
  }

  return {
    open: (opening) => openSessionRow(db, opening, options.webhooks),
    async setAuth(id, auth, now) {
      const result = await db
        .updateTable('sessions')
        .set({ amr: auth.amr, acr: auth.acr, authenticated_at: auth.authenticatedAt })
        .where('id', '=', id)
        .where(liveSession(now, { session: 'sessions' }))
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async findWithUser(id, userId, now) {
      const result = await sql<SessionWithUserRow & { live: boolean }>`
        select ${sessionWithUserColumns('s', 'u')}, ${liveSession(now, { session: 's', user: 'u' })} as live
        from sessions s join users u on u.id = s.user_id
        where s.id = ${id} and s.user_id = ${userId}
      `.execute(db)
      const row = result.rows[0]
      return row && { ...toSessionWithUser(row), live: row.live }
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
      const revoked = await revokeWhere(
        sql`id = ${id}${userId === undefined ? sql`` : sql` and user_id = ${userId}`}`,
        at,
        reason,
      )
      return revoked.length > 0
    },
    async revokeAllForUserExcept(userId, keepSessionId, at, reason) {
      return (await revokeWhere(sql`user_id = ${userId} and id <> ${keepSessionId}`, at, reason)).length
    },
    async revokeAllForUser(userId, at, reason) {
      return (await revokeWhere(sql`user_id = ${userId}`, at, reason)).length
    },
  }
}
