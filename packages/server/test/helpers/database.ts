import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { type DatabaseHandle, openDatabase } from '../../src/store/db.js'

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

/** A fresh, empty database: in-memory PGlite by default, a new PostgreSQL database when TEST_DATABASE_URL is set. */
export async function freshDatabase(): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) {
    const handle = await openDatabase({ kind: 'pglite-memory' })
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
