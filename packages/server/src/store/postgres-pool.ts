import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import pg from 'pg'

export interface PostgresPoolOptions {
  /** `postgres://…` */
  url: string
  /** Connections kept open at most. */
  size: number
  /** Milliseconds to get a connection: connecting, or waiting for a free one. */
  connectTimeoutMs: number
  /** Milliseconds each statement may take, on the client and on the server; unset: no bound. */
  statementTimeoutMs?: number | undefined
}

/**
 * A `pg` pool for Kysely in which no wait outlasts its bound, and a connection that failed is
 * destroyed instead of going back to the pool.
 */
export function createPostgresPool(options: PostgresPoolOptions): PostgresPool {
  const statementMs = options.statementTimeoutMs
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.size,
    connectionTimeoutMillis: options.connectTimeoutMs,
    // notices a silently dead peer on an idle connection
    keepAlive: true,
    ...(statementMs === undefined
      ? {}
      : {
          // client side: an answer that never comes (packets dropped, server frozen) fails the query
          query_timeout: statementMs,
          // server side: PostgreSQL cancels a slow statement itself (57014) and frees its locks
          statement_timeout: statementMs,
          // a transaction whose client vanished without closing its socket still ends, and
          // releases its locks
          idle_in_transaction_session_timeout: statementMs * 2,
        }),
  })
  // an idle client that loses its server must not crash the process; the next query reports it
  pool.on('error', () => {})
  // nor may a checked-out one (pg-pool listens only while a client is idle): its query reports it
  pool.on('connect', (client) => client.on('error', () => {}))
  return {
    connect: async () => checkedOut(await pool.connect()),
    end: () => pool.end(),
  }
}

/**
 * One checkout of a pooled client. After a failure that did not come from the server as an error
 * response (a read timeout, a dropped socket) the connection is in an unknown state: its statement
 * may still run, or its transaction still be open. So later statements fail at once (a rollback
 * does not wait out a second timeout) and the release destroys the connection, which makes
 * PostgreSQL roll back whatever it had begun.
 */
function checkedOut(client: pg.PoolClient): PostgresPoolClient {
  let failure: unknown
  function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>
  function query(
    sqlOrCursor: string | PostgresCursor<unknown>,
    parameters: ReadonlyArray<unknown> = [],
  ): Promise<PostgresQueryResult<unknown>> | PostgresCursor<unknown> {
    // Kysely passes a cursor only to stream(), which Tessera never calls
    if (typeof sqlOrCursor !== 'string') throw new Error('cursors are not supported')
    return run(sqlOrCursor, parameters)
  }
  async function run(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<unknown>> {
    if (failure !== undefined) {
      throw new Error('database connection discarded after an earlier failure', { cause: failure })
    }
    try {
      return (await client.query(sql, [...parameters])) as PostgresQueryResult<unknown>
    } catch (error) {
      // an error response (a constraint, a cancelled statement) leaves the connection usable
      if (!(error instanceof pg.DatabaseError)) failure = error
      throw error
    }
  }
  return {
    query,
    release: (destroy) => client.release(destroy === true || failure !== undefined),
  }
}
