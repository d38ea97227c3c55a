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
import { pgliteDialect } from '../../src/store/pglite-dialect.js'
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

/** {@link migratedPglite} as the handle `createTessera({ database })` takes; `close()` closes the PGlite. */
export async function migratedPgliteHandle(): Promise<DatabaseHandle> {
  const db = new Kysely<Database>({ dialect: pgliteDialect(await migratedPglite()) })
  return {
    db,
    async ping() {
      await sql`select 1`.execute(db)
    },
    close: () => db.destroy(),
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
