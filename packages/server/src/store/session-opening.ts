import { sql } from 'kysely'
import type { Db } from './db.js'
import { preparedAs } from './postgres-pool.js'
import type { NewSession } from './sessions.js'
import { outboxRow, type WebhookOptions } from './webhooks.js'

/** A session to open with its first refresh token. */
export interface SessionOpening extends NewSession {
  /** The first refresh token's row: its id and the SHA-256 of the token. */
  refreshToken: { id: string; hash: Uint8Array }
  /**
   * Open only when the user has no confirmed second factor (a confirmed TOTP or a passkey): a
   * password login decides on its second step in the statement that opens the session.
   */
  unlessSecondFactor?: boolean
}

/**
 * Opens a session in ONE statement, atomic on its own and prepared once per PostgreSQL
 * connection (a login is otherwise BEGIN, four inserts and updates, COMMIT: six statements to
 * parse and plan): the session row, its first refresh token, the user's `last_login_at` (what the
 * admin API shows as lastLoginAt) and, when webhooks are on, the `session.created` outbox row.
 * Inside a transaction it is one statement of that transaction. Answers whether the session was
 * opened: false only with `unlessSecondFactor`, when the user has a second factor.
 */
export async function openSessionRow(
  db: Db,
  opening: SessionOpening,
  webhooks: WebhookOptions | undefined,
): Promise<boolean> {
  const { auth, refreshToken, unlessSecondFactor = false } = opening
  const event = outboxRow(
    {
      type: 'session.created',
      data: { session: { id: opening.id, userId: opening.userId }, amr: auth.amr },
    },
    webhooks,
  )
  // four texts, each a prepared statement of its own: webhooks on or off, guarded or not
  const name = `open_session${unlessSecondFactor ? '_unless_mfa' : ''}${event ? '_webhook' : ''}`
  const userId = sql`${opening.userId}::uuid`
  // casts: INSERT … SELECT gives bare parameters no type from the target columns
  const guard = unlessSecondFactor
    ? sql`where not exists (select 1 from totp_factors where user_id = ${userId} and confirmed_at is not null)
          and not exists (select 1 from passkeys where user_id = ${userId})`
    : sql``
  const outbox = event
    ? sql`, outbox as (
          insert into webhook_outbox (id, type, payload, created_at, next_attempt_at, attempts_since)
          select ${event.id}::text, ${event.type}::text, ${event.payload}::text, t.at, t.at, t.at
          from opened, (select ${event.createdAt}::timestamptz as at) t
        )`
    : sql``
  const result = await sql<{ id: string }>`${sql.raw(preparedAs(name))}with opened as (
      insert into sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at,
        user_agent, ip, amr, acr, authenticated_at)
      select ${opening.id}::uuid, ${userId}, opening.at, opening.at, ${opening.idleExpiresAt}::timestamptz,
        ${opening.absoluteExpiresAt}::timestamptz, ${opening.userAgent}::text, ${opening.ip}::text,
        ${auth.amr}::text[], ${auth.acr}::text, ${auth.authenticatedAt}::timestamptz
      from (select ${opening.createdAt}::timestamptz as at) opening
      ${guard}
      returning id, user_id, created_at
    ), first_token as (
      insert into refresh_tokens (id, session_id, token_hash, created_at)
      select ${refreshToken.id}::uuid, opened.id, ${refreshToken.hash}::bytea, opened.created_at from opened
    ), touched as (
      update users set last_login_at = opened.created_at from opened where users.id = opened.user_id
    )${outbox}
    select id from opened
  `.execute(db)
  return result.rows.length > 0
}
