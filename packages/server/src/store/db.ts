import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Kysely, PostgresDialect, sql } from 'kysely'
import type { DatabaseTarget } from '../config.js'
import { readDataDirTemplate, unpackDataDirTemplate } from './data-dir-template.js'
import type { Database } from './database.js'
import { pgliteDialect } from './pglite-dialect.js'
import { createPostgresPool } from './postgres-pool.js'

export type Db = Kysely<Database>

export interface DatabaseHandle {
  db: Db
  /**
   * PGlite: one process with no background workers, so no autovacuum either; housekeeping vacuums
   * it (store/housekeeping.ts). Absent (a handle made by hand): false.
   */
  embedded?: boolean
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

/**
 * Added to PGlite's start parameters: 16 MB of shared buffers instead of initdb's 128 MB. PGlite
 * touches all of them at start, about 120 MB of resident memory that an embedded server with a
 * few thousand users never fills (issue 21: steady RSS 420 → 300 MB); the files it reads stay in
 * the OS page cache.
 */
const PGLITE_SETTINGS = ['-c', 'shared_buffers=16MB']

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
    // a new database starts from the build's migrated template (data-dir-template.ts), not from initdb
    let template: Blob | undefined
    if (target.kind === 'pglite-dir') {
      if (!existsSync(join(target.dir, 'PG_VERSION'))) await unpackDataDirTemplate(target.dir)
      await mkdir(target.dir, { recursive: true })
    } else {
      template = await readDataDirTemplate()
    }
    const pgliteOptions = {
      startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS],
      ...(template ? { loadDataDir: template } : {}),
    }
    const pglite =
      target.kind === 'pglite-dir' ? new PGlite(target.dir, pgliteOptions) : new PGlite(pgliteOptions)
    await pglite.waitReady
    db = new Kysely<Database>({ dialect: pgliteDialect(pglite) })
  }
  return {
    db,
    embedded: target.kind !== 'postgres',
    async ping() {
      await sql`select 1`.execute(db)
    },
    close: () => db.destroy(),
  }
}
