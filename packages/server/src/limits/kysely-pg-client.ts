import { CompiledQuery, type QueryResult } from 'kysely'

interface LimiterRow {
  points: number
  expire: number | null
}

/** The one Kysely member used here, so any `Kysely<DB>` will do. */
export interface QueryExecutor {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>
}

/** The one method RateLimiterPostgres calls on a `storeType: 'client'` store. */
export interface PgLikeClient {
  query(query: { text: string; values?: unknown[] }): Promise<{ rows: LimiterRow[]; rowCount: number }>
}

/**
 * RateLimiterPostgres's statements run through Kysely, so the limiter works on our `pg` pool (with
 * its timeouts) and on PGlite alike, without a second connection pool.
 */
export function kyselyPgClient(db: QueryExecutor): PgLikeClient {
  return {
    async query({ text, values = [] }) {
      const result = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, values))
      // `expire` is a bigint column: `pg` reads it as a string and PGlite may as a BigInt, while
      // the limiter does arithmetic on it
      const rows = result.rows.map((row) => ({
        points: Number(row.points),
        expire: row.expire === null || row.expire === undefined ? null : Number(row.expire),
      }))
      const rowCount = rows.length > 0 ? rows.length : Number(result.numAffectedRows ?? 0)
      return { rows, rowCount }
    },
  }
}
