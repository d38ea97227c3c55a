import { randomBytes } from 'node:crypto'
import type { PGliteInterface } from '@electric-sql/pglite'
import { Kysely, sql } from 'kysely'
import pg from 'pg'
import type { Database } from '../../src/store/database.js'
import { type DatabaseHandle, openDatabase } from '../../src/store/db.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { pgliteDialect } from '../../src/store/pglite-dialect.js'

/** Set by .ci/run: the suite then runs on real PostgreSQL, one fresh database per test server. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || undefined

export interface TestDatabase {
  handle: DatabaseHandle
  /** `postgres://…` of the fresh database, or `memory://`. */
  url: string
  /** Closes the handle and drops the database. */
  drop(): Promise<void>
}

// one migrated in-memory PGlite per test worker, cloned for each test database: a clone starts in
// well under a second, where a new instance runs initdb and every migration (STACK.md)
let template: Promise<PGliteInterface> | undefined

async function migratedTemplate(): Promise<PGliteInterface> {
  const { PGlite } = await import('@electric-sql/pglite')
  const pglite = new PGlite()
  await pglite.waitReady
  // not destroyed: destroying the Kysely instance would close the template
  await migrateToLatest(new Kysely<Database>({ dialect: pgliteDialect(pglite) }))
  return pglite
}

/**
 * A fresh database: in-memory PGlite by default, a new PostgreSQL database when TEST_DATABASE_URL
 * is set. On PGlite it is already migrated (a clone of a migrated template) unless `empty` is asked,
 * for a test of the migrations themselves; on PostgreSQL it is empty (servers migrate at start).
 */
export async function freshDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) {
    if (options.empty) {
      const handle = await openDatabase({ kind: 'pglite-memory' })
      return { handle, url: 'memory://', drop: () => handle.close() }
    }
    template ??= migratedTemplate()
    const pglite = await (await template).clone()
    const db = new Kysely<Database>({ dialect: pgliteDialect(pglite) })
    const handle: DatabaseHandle = {
      db,
      async ping() {
        await sql`select 1`.execute(db)
      },
      close: () => db.destroy(),
    }
    return { handle, url: 'memory://', drop: () => handle.close() }
  }
  const name = `tessera_test_${randomBytes(6).toString('hex')}`
  await adminQuery(`create database ${name}`)
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  const handle = await openDatabase({ kind: 'postgres', url: url.href }, { poolSize: 20 })
  return {
    handle,
    url: url.href,
    async drop() {
      await handle.close()
      await adminQuery(`drop database if exists ${name} with (force)`)
    },
  }
}

/** A fresh PostgreSQL database name and URL, for tests that start server processes. */
export async function freshPostgresUrl(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  if (!TEST_DATABASE_URL) return undefined
  const name = `tessera_test_${randomBytes(6).toString('hex')}`
  await adminQuery(`create database ${name}`)
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  return { url: url.href, drop: () => adminQuery(`drop database if exists ${name} with (force)`) }
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
