import { sql } from 'kysely'
import type { Db } from './db.js'
import { preparedAs } from './postgres-pool.js'
import { type AuthEventRecord, toAuthEvent } from './records.js'

export interface NewAuthEvent extends Omit<AuthEventRecord, 'detail'> {
  detail: Record<string, string | number | boolean>
}

/** A page of the audit log, newest first, before the position `before`. */
export interface AuthEventQuery {
  userId?: string | undefined
  type?: string | undefined
  /** Events at or after this time. */
  since?: Date | undefined
  /** Events before this time. */
  until?: Date | undefined
  limit: number
  before?: { createdAt: string; id: string } | undefined
}

export interface AuthEventStore {
  insert(event: NewAuthEvent): Promise<void>
  /** The user's events, newest first. */
  listForUser(userId: string, limit: number): Promise<AuthEventRecord[]>
  /**
   * Deletes events recorded before `cutoff` (the retention job), in batches of `batchSize` so a
   * large backlog never holds one long lock on the table. Answers how many went.
   */
  deleteOlderThan(cutoff: Date, batchSize?: number): Promise<number>
  /** A page of events newest first by (created_at, id), and where the next one starts. */
  query(
    query: AuthEventQuery,
  ): Promise<{ events: AuthEventRecord[]; next: { createdAt: string; id: string } | undefined }>
}

const DELETE_BATCH = 5000

export function createAuthEventStore(db: Db): AuthEventStore {
  return {
    async insert(event) {
      // prepared: every login, failed or not, and most account changes write one
      await sql`${sql.raw(preparedAs('insert_auth_event'))}insert into auth_events
        (id, type, user_id, session_id, ip, user_agent, detail, created_at)
        values (${event.id}, ${event.type}, ${event.userId}, ${event.sessionId}, ${event.ip},
          ${event.userAgent}, ${JSON.stringify(event.detail)}, ${event.createdAt})`.execute(db)
    },
    async listForUser(userId, limit) {
      const rows = await db
        .selectFrom('auth_events')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute()
      return rows.map(toAuthEvent)
    },
    async deleteOlderThan(cutoff, batchSize = DELETE_BATCH) {
      let total = 0
      for (;;) {
        const result = await db
          .deleteFrom('auth_events')
          .where(
            'id',
            'in',
            db.selectFrom('auth_events').select('id').where('created_at', '<', cutoff).limit(batchSize),
          )
          .executeTakeFirst()
        const deleted = Number(result.numDeletedRows)
        total += deleted
        if (deleted < batchSize) return total
      }
    },
    async query(query) {
      let select = db
        .selectFrom('auth_events')
        .selectAll()
        .select(sql<string>`created_at::text`.as('position_at'))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit + 1)
      if (query.userId !== undefined) select = select.where('user_id', '=', query.userId)
      if (query.type !== undefined) select = select.where('type', '=', query.type)
      if (query.since !== undefined) select = select.where('created_at', '>=', query.since)
      if (query.until !== undefined) select = select.where('created_at', '<', query.until)
      if (query.before !== undefined) {
        select = select.where(
          sql<boolean>`(created_at, id) < (${query.before.createdAt}::timestamptz, ${query.before.id}::uuid)`,
        )
      }
      const rows = await select.execute()
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        events: page.map(({ position_at: _, ...row }) => toAuthEvent(row)),
        next: rows.length > query.limit && last ? { createdAt: last.position_at, id: last.id } : undefined,
      }
    },
  }
}
