import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { type DatabaseHandle, openDatabase } from '../../src/store/db.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { migratedPgliteHandle, migrationsKey } from './pglite-snapshot.js'

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

/**
 * A fresh database: in-memory PGlite by default, a new PostgreSQL database when TEST_DATABASE_URL
 * is set. It is already migrated (PGlite: loaded from a migrated snapshot; PostgreSQL: a copy of a
 * migrated template database) unless `empty` is asked, for a test of the migrations themselves.
 */
export async function freshDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) {
    const handle = options.empty
      ? await openDatabase({ kind: 'pglite-memory' })
      : await migratedPgliteHandle()
    return { handle, url: 'memory://', drop: () => handle.close() }
  }
  const fresh = await newPostgresDatabase(options.empty ? undefined : await migratedTemplate())
  const handle = await openDatabase({ kind: 'postgres', url: fresh.url }, { poolSize: 20 })
  return {
    handle,
    url: fresh.url,
    async drop() {
      await handle.close()
      await fresh.drop()
    },
  }
}

/** A fresh, empty PostgreSQL database name and URL, for tests that start server processes. */
export async function freshPostgresUrl(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  if (!TEST_DATABASE_URL) return undefined
  return newPostgresDatabase(undefined)
}

async function newPostgresDatabase(
  template: string | undefined,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tessera_test_${randomBytes(6).toString('hex')}`
  await adminQuery(`create database ${name}${template ? ` template ${template}` : ''}`)
  // a commit need not wait for the disk on a database the test drops anyway (a crash would lose
  // only the last commits): 7 ms less per commit on this machine, for every connection to it,
  // spawned servers' included. Transactions stay transactions
  await adminQuery(`alter database ${name} set synchronous_commit = off`)
  return { url: databaseUrl(name), drop: () => adminQuery(`drop database if exists ${name} with (force)`) }
}

const databaseUrl = (name: string): string => {
  const url = new URL(TEST_DATABASE_URL ?? '')
  url.pathname = `/${name}`
  return url.href
}

let template: Promise<string> | undefined

/**
 * A database with every migration applied, copied by `create database … template` for each test
 * server (a copy takes a tenth of the migrations' time). Made once per set of migrations and kept
 * between runs; workers take an advisory lock so that one makes it while the others wait.
 */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const name = `tessera_template_${await migrationsKey()}`
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await admin.connect()
    try {
      await admin.query('select pg_advisory_lock(hashtext($1))', [name])
      const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name])
      if (rowCount === 0) {
        // made under another name and renamed when complete: a run killed halfway leaves no half template
        const staging = `${name}_${randomBytes(4).toString('hex')}`
        await admin.query(`create database ${staging}`)
        const handle = await openDatabase({ kind: 'postgres', url: databaseUrl(staging) }, { poolSize: 1 })
        try {
          await migrateToLatest(handle.db)
        } finally {
          await handle.close()
        }
        await admin.query(`alter database ${staging} rename to ${name}`)
      }
      await admin.query('select pg_advisory_unlock(hashtext($1))', [name])
      return name
    } finally {
      await admin.end()
    }
  })()
  return template
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
