import { mkdir } from 'node:fs/promises'
import { Kysely, PostgresDialect, sql } from 'kysely'
import type { DatabaseTarget } from '../config.js'
import type { Database } from './database.js'
import { pgliteDialect } from './pglite-dialect.js'
import { createPostgresPool } from './postgres-pool.js'

export type Db = Kysely<Database>

export interface DatabaseHandle {
  db: Db
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>
  close(): Promise<void>
}

export interface OpenDatabaseOptions {
  /** PostgreSQL pool size. */
  poolSize?: number
  /** Prepare the statements marked with `preparedAs` once per PostgreSQL connection. Default true. */
  preparedStatements?: boolean
  /**
   * Milliseconds any one wait on PostgreSQL may take (a connection, a statement) before failing
   * with an error that classifies as unavailable. Unset: connecting is bounded by 5 s, statements
   * not (migrations, CLI commands). PGlite runs in process and is never bounded.
   */
  timeoutMs?: number
}

/** Opens PostgreSQL through `pg`, or PGlite on disk or in memory. */
export async function openDatabase(
  target: DatabaseTarget,
  options: OpenDatabaseOptions = {},
): Promise<DatabaseHandle> {
  let db: Db
  if (target.kind === 'postgres') {
    const pool = createPostgresPool({
      url: target.url,
      size: options.poolSize ?? 10,
      preparedStatements: options.preparedStatements ?? true,
      connectTimeoutMs: options.timeoutMs ?? 5000,
      statementTimeoutMs: options.timeoutMs,
    })
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  } else {
    const { PGlite } = await import('@electric-sql/pglite')
    let pglite: InstanceType<typeof PGlite>
    if (target.kind === 'pglite-dir') {
      await mkdir(target.dir, { recursive: true })
      pglite = new PGlite(target.dir)
    } else {
      pglite = new PGlite()
    }
    await pglite.waitReady
    db = new Kysely<Database>({ dialect: pgliteDialect(pglite) })
  }
  return {
    db,
    async ping() {
      await sql`select 1`.execute(db)
    },
    close: () => db.destroy(),
  }
}
