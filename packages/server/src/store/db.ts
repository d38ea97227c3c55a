import { mkdir } from 'node:fs/promises'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import type { DatabaseTarget } from '../config.js'
import type { Database } from './database.js'
import { pgliteDialect } from './pglite-dialect.js'

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
  /** Milliseconds to wait for a PostgreSQL connection before failing with a connection error. */
  connectTimeout?: number
}

/** Opens PostgreSQL through `pg`, or PGlite on disk or in memory. */
export async function openDatabase(
  target: DatabaseTarget,
  options: OpenDatabaseOptions = {},
): Promise<DatabaseHandle> {
  let db: Db
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: target.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeout ?? 5000,
    })
    // an idle client that loses its server must not crash the process; the next query reports it
    pool.on('error', () => {})
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
