import type { Db } from './db.js'
import { type AuthEventRecord, toAuthEvent } from './records.js'

export interface NewAuthEvent extends Omit<AuthEventRecord, 'detail'> {
  detail: Record<string, string | number | boolean>
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
}

const DELETE_BATCH = 5000

export function createAuthEventStore(db: Db): AuthEventStore {
  return {
    async insert(event) {
      await db
        .insertInto('auth_events')
        .values({
          id: event.id,
          type: event.type,
          user_id: event.userId,
          session_id: event.sessionId,
          ip: event.ip,
          user_agent: event.userAgent,
          detail: JSON.stringify(event.detail),
          created_at: event.createdAt,
        })
        .execute()
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
  }
}
