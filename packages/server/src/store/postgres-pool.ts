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
  /** Prepare statements marked with {@link preparedAs}; false: run them as any other. */
  preparedStatements: boolean
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
    connect: async () => checkedOut(await pool.connect(), options.preparedStatements),
    end: () => pool.end(),
  }
}

/**
 * Marks a statement to be prepared once per connection and then only executed: put it first in
 * the statement's text, e.g. `${preparedAs('rotate_refresh_token')}with ...`. PostgreSQL then
 * skips parsing and planning it each time, which for the refresh rotation's CTE is most of its
 * cost (0.4 against 1.1 ms of PostgreSQL's CPU per rotation in `pgbench -M prepared` against
 * `-M extended`). A comment, so PGlite and anything else reading the text runs it as it is.
 * Only for a fixed text; its parameters vary.
 */
export const preparedAs = (name: string): string => `/* prepared ${name} */ `

const PREPARED = /^\/\* prepared ([a-z_]+) \*\/ /

// a prepared statement whose tables changed under it so that its result would differ (a
// migration by a newer version beside this one): PostgreSQL refuses to run it again
const isStalePlan = (error: unknown): boolean =>
  error instanceof pg.DatabaseError &&
  error.code === '0A000' &&
  /cached plan must not change result type/.test(error.message)

/**
 * One checkout of a pooled client. After a failure that did not come from the server as an error
 * response (a read timeout, a dropped socket) the connection is in an unknown state: its statement
 * may still run, or its transaction still be open. So later statements fail at once (a rollback
 * does not wait out a second timeout) and the release destroys the connection, which makes
 * PostgreSQL roll back whatever it had begun.
 */
function checkedOut(client: pg.PoolClient, prepare: boolean): PostgresPoolClient {
  let failure: unknown
  let stale = false
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
    const name = prepare ? PREPARED.exec(sql)?.[1] : undefined
    try {
      const values = [...parameters]
      return (await client.query(
        name ? { name, text: sql, values } : { text: sql, values },
      )) as PostgresQueryResult<unknown>
    } catch (error) {
      if (name !== undefined && isStalePlan(error)) {
        // run as it is this time; the connection keeps the stale statement, so it is not reused
        stale = true
        return run(sql.replace(PREPARED, ''), parameters)
      }
      // an error response (a constraint, a cancelled statement) leaves the connection usable
      if (!(error instanceof pg.DatabaseError)) failure = error
      throw error
    }
  }
  return {
    query,
    release: (destroy) => client.release(destroy === true || failure !== undefined || stale),
  }
}
