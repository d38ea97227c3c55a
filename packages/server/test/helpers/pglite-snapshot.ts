import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PGlite } from '@electric-sql/pglite'
import { Kysely, sql } from 'kysely'
import type { Database } from '../../src/store/database.js'
import type { DatabaseHandle } from '../../src/store/db.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { type PGliteLike, pgliteDialect } from '../../src/store/pglite-dialect.js'
import { sharedTemplate } from './shared-template.js'

// An in-memory PGlite starts with initdb (2–5 s on this machine's two cores, STACK.md) and then
// the migrations. Every test server on the embedded database loads a migrated snapshot instead
// (under a second), made once for every worker and run as long as the migrations stay the same.
// Not a test/helpers/database.ts import: a file that only needs an embedded server (the middleware's
// and the client's tests) stays out of the database group, which runs again on PostgreSQL.

const require = createRequire(import.meta.url)
let snapshot: Promise<Blob> | undefined

/** A new in-memory PGlite with every migration applied. */
export async function migratedPglite(): Promise<PGlite> {
  snapshot ??= loadSnapshot()
  const { PGlite } = await import('@electric-sql/pglite')
  const pglite = new PGlite({ loadDataDir: await snapshot })
  await pglite.waitReady
  return pglite
}

/**
 * A migrated database as the handle `createTessera({ database })` takes. Loading the snapshot costs
 * a second and a half of a core (1.4 s measured on a quiet machine: most of a test server's start),
 * so `close()` hands the PGlite back, emptied to its migrated state, for the next handle of this
 * worker. A PGlite whose schema a test changed, or that someone closed, is closed instead.
 */
export async function migratedPgliteHandle(): Promise<DatabaseHandle> {
  const pglite = idle.pop() ?? (await migratedPglite())
  // the handle's own view of the PGlite: once closed, a query still running late (a loop a test
  // left behind) fails instead of writing into the next test's database
  let closed = false
  let closing: Promise<void> | undefined
  const view: PGliteLike = {
    query: (text, params) => {
      if (closed) return Promise.reject(new Error('this test database was closed'))
      return pglite.query(text, params)
    },
    // Kysely's destroy ends here: the PGlite itself is recycled below
    close: async () => {},
  }
  const db = new Kysely<Database>({ dialect: pgliteDialect(view) })
  return {
    db,
    embedded: true,
    async ping() {
      await sql`select 1`.execute(db)
    },
    close() {
      // one close however often it is called: two recycles would hand one database to two tests
      closing ??= (async () => {
        closed = true
        await db.destroy()
        await recycle(pglite)
      })()
      return closing
    },
  }
}

/** Emptied PGlites ready for the next handle (a few: each holds ~100 MB). */
const idle: PGlite[] = []
const IDLE_MAX = 2

/** What a freshly migrated database holds: its schema's fingerprint, its tables and the rows migrations put in. */
interface Pristine {
  fingerprint: string
  tables: string[]
  seeds: { table: string; rows: string }[]
}
let pristine: Promise<Pristine> | undefined

// every relation, column, default, constraint, index, view, trigger, function and enum value outside the system
// schemas: a test that adds or changes any of them leaves a PGlite that is not a migrated database
const FINGERPRINT = `
  select md5(coalesce(string_agg(item, '|' order by item), '')) as fingerprint from (
    select n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || coalesce(a.attname, '') || ':' ||
      coalesce(format_type(a.atttypid, a.atttypmod), '') || ':' || coalesce(a.attnotnull::text, '') || ':' ||
      coalesce(pg_get_expr(d.adbin, d.adrelid), '') as item
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
    where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
    union all
    select conrelid::regclass::text || ':' || conname || ':' || pg_get_constraintdef(oid) from pg_constraint
    where connamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    union all
    select schemaname || '.' || indexname || ':' || indexdef from pg_indexes
    where schemaname not in ('pg_catalog', 'information_schema')
    union all
    select schemaname || '.' || viewname || ':' || definition from pg_views
    where schemaname not in ('pg_catalog', 'information_schema')
    union all
    select tgrelid::regclass::text || ':' || tgname || ':' || tgenabled::text from pg_trigger where not tgisinternal
    union all
    select pronamespace::regnamespace::text || '.' || proname || ':' || md5(prosrc) from pg_proc
    where pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    union all
    select enumtypid::regtype::text || ':' || enumlabel from pg_enum
  ) items`

async function fingerprintOf(pglite: PGlite): Promise<string> {
  const { rows } = await pglite.query<{ fingerprint: string }>(FINGERPRINT)
  return rows[0]?.fingerprint ?? ''
}

async function readPristine(pglite: PGlite): Promise<Pristine> {
  const { rows } = await pglite.query<{ table: string }>(
    `select format('%I', tablename) as table from pg_tables
     where schemaname = 'public' and tablename not like 'kysely_%' order by tablename`,
  )
  const tables = rows.map((row) => row.table)
  const seeds: Pristine['seeds'] = []
  for (const table of tables) {
    const { rows: held } = await pglite.query<{ rows: string | null }>(
      `select json_agg(t)::text as rows from ${table} t`,
    )
    if (held[0]?.rows) seeds.push({ table, rows: held[0].rows })
  }
  return { fingerprint: await fingerprintOf(pglite), tables, seeds }
}

/** Back to the migrated state and into {@link idle}; closed when that is not sure. */
async function recycle(pglite: PGlite): Promise<void> {
  if (pglite.closed) return
  try {
    // what "migrated" holds is read once, from a PGlite no test has touched: the one being
    // recycled already carries a test's rows
    pristine ??= migratedPglite().then(async (fresh) => {
      try {
        return await readPristine(fresh)
      } finally {
        await fresh.close()
      }
    })
    const { fingerprint, tables, seeds } = await pristine
    if (idle.length >= IDLE_MAX || (await fingerprintOf(pglite)) !== fingerprint) {
      await pglite.close()
      return
    }
    // a transaction a test left open, session settings, prepared statements, LISTENs
    await pglite.query('rollback')
    await pglite.query('discard all')
    await pglite.transaction(async (tx) => {
      await tx.query(`truncate ${tables.join(', ')} restart identity cascade`)
      for (const { table, rows } of seeds) {
        await tx.query(`insert into ${table} select * from json_populate_recordset(null::${table}, $1)`, [
          rows,
        ])
      }
    })
    // another recycle may have filled the pool meanwhile
    if (idle.length >= IDLE_MAX) await pglite.close()
    else idle.push(pglite)
  } catch {
    await pglite.close().catch(() => {})
  }
}

async function loadSnapshot(): Promise<Blob> {
  const path = await sharedTemplate({
    prefix: 'tessera-test-pglite-',
    key: await migrationsKey(),
    what: 'the migrated PGlite snapshot',
    async make(staging) {
      const { PGlite } = await import('@electric-sql/pglite')
      const pglite = new PGlite()
      await pglite.waitReady
      const db = new Kysely<Database>({ dialect: pgliteDialect(pglite) })
      try {
        await migrateToLatest(db)
        // uncompressed: loading is what every test pays, and gunzip would add to it
        const tarball = await pglite.dumpDataDir('none')
        await writeFile(staging, new Uint8Array(await tarball.arrayBuffer()))
      } finally {
        await db.destroy()
      }
    },
  })
  return new Blob([await readFile(path)])
}

/** What shapes a migrated database: the migrations' sources (and the PGlite version, for the snapshot). */
export async function migrationsKey(): Promise<string> {
  const hash = createHash('sha256')
  const migrations = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url))
  for (const name of (await readdir(migrations)).sort()) {
    hash.update(name).update(await readFile(join(migrations, name)))
  }
  // its package.json is not exported: found beside the entry point
  hash.update(await readFile(join(dirname(dirname(require.resolve('@electric-sql/pglite'))), 'package.json')))
  return hash.digest('hex').slice(0, 16)
}
