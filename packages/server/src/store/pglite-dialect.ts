import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from 'kysely'

/** The members of PGlite this dialect calls, so the type stays small (as Kysely does for its dialects). */
export interface PGliteLike {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>
  close(): Promise<void>
}

/**
 * Kysely 0.28 has no PGlite dialect. PGlite is a single session: two transactions on it at once
 * interleave silently, so the driver hands out its one connection to one holder at a time.
 */
export function pgliteDialect(pglite: PGliteLike): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => createPGliteDriver(pglite),
    createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  }
}

function createPGliteDriver(pglite: PGliteLike): Driver {
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      const result = await pglite.query<R>(query.sql, [...query.parameters])
      return result.affectedRows === undefined
        ? { rows: result.rows }
        : { rows: result.rows, numAffectedRows: BigInt(result.affectedRows) }
    },
    // biome-ignore lint/correctness/useYield: streaming is not supported; the generator only throws
    async *streamQuery() {
      throw new Error('streaming is not supported on PGlite')
    },
  }
  let tail: Promise<void> = Promise.resolve()
  let release: (() => void) | undefined

  return {
    async init() {},
    async acquireConnection() {
      const previous = tail
      let done!: () => void
      tail = new Promise((resolve) => {
        done = resolve
      })
      await previous
      release = done
      return connection
    },
    async beginTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw('begin'))
    },
    async commitTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw('commit'))
    },
    async rollbackTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw('rollback'))
    },
    async releaseConnection() {
      const done = release
      release = undefined
      done?.()
    },
    async destroy() {
      await tail
      await pglite.close()
    },
  }
}
