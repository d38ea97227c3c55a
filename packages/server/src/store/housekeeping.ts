import { sql } from 'kysely'
import type { Db } from './db.js'

export interface HousekeepingTx {
  /** The transaction itself, for tasks of other stores that run under the same lock. */
  db: Db
  /**
   * Deletes sessions revoked, idle-expired or past their absolute lifetime before `before`. Their
   * refresh tokens go with them (the foreign key cascades). Answers how many sessions went.
   */
  deleteDeadSessions(before: Date): Promise<number>
  /** Deletes one-time tokens that expired, or were used or voided, before `before`. */
  deleteSpentOneTimeTokens(before: Date): Promise<number>
}

export interface HousekeepingStore {
  /**
   * Runs `work` in one transaction holding the housekeeping lock, or answers `skipped` at once when
   * another instance holds it. A transaction-scoped advisory lock: it ends with the transaction, so
   * a crashed run cannot leave it held.
   */
  exclusively<T>(work: (tx: HousekeepingTx) => Promise<T>): Promise<{ ran: true; result: T } | { ran: false }>
  /**
   * On the embedded database, `VACUUM (ANALYZE)` of each table, one statement per table so requests
   * get their turns between them; answers how many tables. Nothing on PostgreSQL, whose autovacuum
   * does it (answers 0). PGlite runs no autovacuum: without this, the space of deleted and updated
   * rows (every refresh updates one and inserts one) was never reused, and tables grew for as long
   * as the server ran (a table of 1,000 live rows churned 50,000 times: 4.8 MB against 0.6 MB), with
   * no statistics for the planner. Stops before the next table once `stopping()` answers true: a
   * server shutting down waits for one table, not all of them.
   */
  vacuum(stopping?: () => boolean): Promise<number>
}

export interface HousekeepingStoreOptions {
  /** The database is the embedded PGlite (DatabaseHandle.embedded): vacuum() vacuums. */
  embedded: boolean
}

/**
 * Rows per DELETE: each statement stays well inside TESSERA_DB_TIMEOUT even after a long pause
 * (a session takes its refresh tokens with it), however large the backlog.
 */
const BATCH = 500

async function inBatches(deleteUpTo: (limit: number) => Promise<number>): Promise<number> {
  let total = 0
  for (;;) {
    const deleted = await deleteUpTo(BATCH)
    total += deleted
    if (deleted < BATCH) return total
  }
}

export function createHousekeepingStore(db: Db, options: HousekeepingStoreOptions): HousekeepingStore {
  return {
    async vacuum(stopping = () => false) {
      if (!options.embedded) return 0
      // VACUUM runs outside any transaction: after the deleting one has committed
      const { rows } = await sql<{ name: string }>`
        select tablename as name from pg_tables where schemaname = current_schema() order by tablename
      `.execute(db)
      let vacuumed = 0
      for (const { name } of rows) {
        if (stopping()) break
        await sql`vacuum (analyze) ${sql.table(name)}`.execute(db)
        vacuumed++
      }
      return vacuumed
    },
    exclusively: (work) =>
      db.transaction().execute(async (trx) => {
        const { rows } = await sql<{
          locked: boolean
        }>`select pg_try_advisory_xact_lock(hashtext('tessera.housekeeping')) as locked`.execute(trx)
        if (!rows[0]?.locked) return { ran: false } as const
        const result = await work({
          db: trx,
          deleteDeadSessions: (before) =>
            inBatches(async (limit) => {
              const deleted = await trx
                .deleteFrom('sessions')
                .where(
                  'id',
                  'in',
                  trx
                    .selectFrom('sessions')
                    .select('id')
                    .where((eb) =>
                      eb.or([
                        eb('revoked_at', '<', before),
                        eb('idle_expires_at', '<', before),
                        eb('absolute_expires_at', '<', before),
                      ]),
                    )
                    .limit(limit),
                )
                .executeTakeFirst()
              return Number(deleted.numDeletedRows)
            }),
          deleteSpentOneTimeTokens: (before) =>
            inBatches(async (limit) => {
              const deleted = await trx
                .deleteFrom('one_time_tokens')
                .where(
                  'id',
                  'in',
                  trx
                    .selectFrom('one_time_tokens')
                    .select('id')
                    .where((eb) => eb.or([eb('expires_at', '<', before), eb('used_at', '<', before)]))
                    .limit(limit),
                )
                .executeTakeFirst()
              return Number(deleted.numDeletedRows)
            }),
        })
        return { ran: true, result } as const
      }),
  }
}
