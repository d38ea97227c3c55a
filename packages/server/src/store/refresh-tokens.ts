import type { Session, User } from './database.js'
import type { Db } from './db.js'

export interface RefreshTokenRecord {
  id: string
  sessionId: string
  usedAt: Date | null
  successorSealed: string | null
}

export interface RefreshTokenLookup {
  token: RefreshTokenRecord
  session: Session
  user: User
}

export interface RefreshTokenStore {
  insert(token: { id: string; sessionId: string; hash: Uint8Array; createdAt: Date }): Promise<void>
  /**
   * The token with its session and user, the token row locked until the transaction ends, so
   * parallel presentations of one token are decided one after another.
   */
  findForUpdate(hash: Uint8Array): Promise<RefreshTokenLookup | undefined>
  /** The session of a token and its user, without a lock (logout). */
  findSession(hash: Uint8Array): Promise<{ sessionId: string; userId: string } | undefined>
  markUsed(id: string, at: Date, successorSealed: string): Promise<void>
}

export function createRefreshTokenStore(db: Db): RefreshTokenStore {
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
      const row = await db
        .selectFrom('refresh_tokens')
        .select(['id', 'session_id', 'used_at', 'successor_sealed'])
        .where('token_hash', '=', hash)
        .forUpdate()
        .executeTakeFirst()
      if (!row) return undefined
      const session = await db
        .selectFrom('sessions')
        .selectAll()
        .where('id', '=', row.session_id)
        .executeTakeFirst()
      if (!session) return undefined
      const user = await db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', session.user_id)
        .executeTakeFirst()
      if (!user) return undefined
      return {
        token: {
          id: row.id,
          sessionId: row.session_id,
          usedAt: row.used_at,
          successorSealed: row.successor_sealed,
        },
        session,
        user,
      }
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
    async markUsed(id, at, successorSealed) {
      await db
        .updateTable('refresh_tokens')
        .set({ used_at: at, successor_sealed: successorSealed })
        .where('id', '=', id)
        .execute()
    },
  }
}
