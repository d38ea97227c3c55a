import { CompiledQuery, type RawBuilder, sql } from 'kysely'
import { TesseraError } from '../errors.js'
import type { UserRow } from './database.js'
import type { Db } from './db.js'
import { preparedAs } from './postgres-pool.js'
import {
  type SessionAuth,
  type SessionRecord,
  type SessionWithUserRow,
  sessionWithUserColumns,
  toSessionWithUser,
  toUser,
  type UserRecord,
  userColumns,
} from './records.js'
import { liveSession } from './sessions.js'

export interface RefreshTokenRecord {
  id: string
  sessionId: string
  usedAt: Date | null
  successorSealed: string | null
}

export interface RefreshTokenLookup {
  token: RefreshTokenRecord
  session: SessionRecord
  user: UserRecord
}

export interface Rotation {
  /** The spent token, the one presented. */
  hash: Uint8Array
  /** The successor's row. */
  successor: { id: string; hash: Uint8Array; sealed: string }
  at: Date
  /** The session's new idle expiry, before the cap of its absolute lifetime. */
  idleExpiresAt: Date
}

export interface RefreshTokenStore {
  insert(token: { id: string; sessionId: string; hash: Uint8Array; createdAt: Date }): Promise<void>
  /**
   * The token with its session and user, the token row locked until the transaction ends, so
   * parallel presentations of one token are decided one after another.
   */
  findForUpdate(hash: Uint8Array): Promise<RefreshTokenLookup | undefined>
  /** True when the token exists and has not been spent (a grace-window repeat checks its successor). */
  isUnspent(hash: Uint8Array): Promise<boolean>
  /** The session of a token and its user, without a lock (logout). */
  findSession(hash: Uint8Array): Promise<{ sessionId: string; userId: string } | undefined>
  /**
   * The common case of a refresh in one statement (one round trip, atomic on its own): when
   * `hash` is an unused token of a live session of an enabled user, spends it, inserts the
   * successor and moves the session's idle expiry. Answers undefined for anything else (unknown,
   * spent, dead session, disabled user), and changes nothing: the caller decides in a transaction.
   */
  rotate(
    rotation: Rotation,
  ): Promise<{ user: UserRecord; sessionId: string; idleExpiresAt: Date; auth: SessionAuth } | undefined>
}

export function createRefreshTokenStore(db: Db): RefreshTokenStore {
  // the rotation's text, compiled on its first use (see compileRotation)
  let rotation: CompiledRotation | undefined
  return {
    async insert(token) {
      await db
        .insertInto('refresh_tokens')
        .values({
          id: token.id,
          session_id: token.sessionId,
          token_hash: token.hash,
          created_at: token.createdAt,
        })
        .execute()
    },
    async findForUpdate(hash) {
      // one statement: the token row FOR UPDATE (parallel presentations queue here), its session
      // FOR NO KEY UPDATE (a revocation committing meanwhile is waited for, not overwritten), its user
      const result = await sql<
        {
          token_id: string
          token_used_at: Date | null
          token_successor_sealed: string | null
        } & SessionWithUserRow
      >`
        select t.id as token_id, t.used_at as token_used_at, t.successor_sealed as token_successor_sealed,
          ${sessionWithUserColumns('s', 'u')}
        from refresh_tokens t
        join sessions s on s.id = t.session_id
        join users u on u.id = s.user_id
        where t.token_hash = ${hash}
        for update of t for no key update of s
      `.execute(db)
      const row = result.rows[0]
      if (!row) return undefined
      return {
        token: {
          id: row.token_id,
          sessionId: row.id,
          usedAt: row.token_used_at,
          successorSealed: row.token_successor_sealed,
        },
        ...toSessionWithUser(row),
      }
    },
    async isUnspent(hash) {
      const row = await db
        .selectFrom('refresh_tokens')
        .select('used_at')
        .where('token_hash', '=', hash)
        .executeTakeFirst()
      return row !== undefined && row.used_at === null
    },
    async findSession(hash) {
      const row = await db
        .selectFrom('refresh_tokens')
        .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
        .select(['refresh_tokens.session_id', 'sessions.user_id'])
        .where('refresh_tokens.token_hash', '=', hash)
        .executeTakeFirst()
      return row && { sessionId: row.session_id, userId: row.user_id }
    },
    async rotate({ hash, successor, at, idleExpiresAt }) {
      const values: RotationValues = {
        hash,
        at,
        sealed: successor.sealed,
        successorId: successor.id,
        successorHash: successor.hash,
        idleExpiresAt,
      }
      rotation ??= compileRotation(db, values)
      const result = await db.executeQuery<RotationRow>(
        CompiledQuery.raw(
          rotation.sql,
          rotation.order.map((name) => values[name]),
        ),
      )
      const row = result.rows[0]
      if (!row) return undefined
      return {
        user: toUser(row),
        sessionId: row.session_id,
        idleExpiresAt: row.session_idle_expires_at,
        auth: { amr: row.session_amr, acr: row.session_acr, authenticatedAt: row.session_authenticated_at },
      }
    },
  }
}

/** What the rotation statement takes, by name. */
interface RotationValues {
  hash: Uint8Array
  at: Date
  sealed: string
  successorId: string
  successorHash: Uint8Array
  idleExpiresAt: Date
}

type RotationRow = UserRow & {
  session_id: string
  session_idle_expires_at: Date
  session_amr: string[]
  session_acr: string
  session_authenticated_at: Date
}

/** The rotation's SQL and, for each of its parameters in order, the value it takes. */
interface CompiledRotation {
  sql: string
  order: (keyof RotationValues)[]
}

// FOR UPDATE OF the token: a parallel presentation of the same token waits here, then re-checks
// `used_at is null` on the committed row and finds nothing, so exactly one wins
const rotationStatement = (v: RotationValues): RawBuilder<RotationRow> =>
  sql<RotationRow>`${sql.raw(preparedAs('rotate_refresh_token'))}with current_token as (
      select t.id, t.session_id
      from refresh_tokens t
      join sessions s on s.id = t.session_id
      join users u on u.id = s.user_id
      where t.token_hash = ${v.hash} and t.used_at is null
        and ${liveSession(v.at, { session: 's', user: 'u' })}
      -- the session too: a revocation committing meanwhile is seen (the row re-checked) rather
      -- than overwritten by the touch below
      for update of t for no key update of s
    ), spent as (
      update refresh_tokens set used_at = ${v.at}, successor_sealed = ${v.sealed}
      from current_token where refresh_tokens.id = current_token.id
      returning refresh_tokens.session_id
    ), successor as (
      insert into refresh_tokens (id, session_id, token_hash, created_at)
      select ${v.successorId}, session_id, ${v.successorHash}, ${v.at} from spent
    ), touched as (
      update sessions set last_used_at = ${v.at}, idle_expires_at = least(${v.idleExpiresAt}::timestamptz, absolute_expires_at)
      from spent where sessions.id = spent.session_id
      returning sessions.id, sessions.user_id, sessions.idle_expires_at, sessions.amr, sessions.acr, sessions.authenticated_at
    )
    select ${userColumns('users')}, touched.id as session_id, touched.idle_expires_at as session_idle_expires_at,
      touched.amr as session_amr, touched.acr as session_acr, touched.authenticated_at as session_authenticated_at
    from touched join users on users.id = touched.user_id
  `

/**
 * The rotation statement compiled once, its parameters then filled in by name: Kysely would build
 * and compile the template's tree again on every refresh, for the same text each time. Each
 * parameter is told apart by identity from the first call's values (all distinct: two buffers, two
 * dates, a UUID and a sealed token), so the order follows the template whatever it becomes.
 */
function compileRotation(db: Db, values: RotationValues): CompiledRotation {
  const compiled = rotationStatement(values).compile(db)
  const names = Object.keys(values) as (keyof RotationValues)[]
  const order = compiled.parameters.map((parameter) => {
    // exactly one: two values that were the same object would leave the order a guess
    const [name, ...others] = names.filter((candidate) => values[candidate] === parameter)
    if (name === undefined || others.length > 0)
      throw new TesseraError('INTERNAL', { reason: 'rotation parameter not matched' })
    return name
  })
  return { sql: compiled.sql, order }
}
