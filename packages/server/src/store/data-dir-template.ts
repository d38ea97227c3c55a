import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kysely } from 'kysely'
import type { Database } from './database.js'
import { MIGRATION_NAMES, migrateToLatest } from './migrate.js'
import { pgliteDialect } from './pglite-dialect.js'

// A new embedded database would start with PGlite's initdb: seconds of two busy cores and a peak
// near 800 MB (STACK.md, issue 21). `npm run build` makes a migrated data dir once, as a tarball
// beside the compiled code; a new data dir is unpacked from it, and the server then applies only
// the migrations newer than the template. The template is an optimisation: missing, unreadable or
// made by another PGlite version, it is ignored and initdb runs as before.

/** dist/data-dir-template.tar.gz from the compiled code (src/… when run from sources: absent there). */
export const DATA_DIR_TEMPLATE = fileURLToPath(new URL('../data-dir-template.tar.gz', import.meta.url))

interface TemplateStamp {
  /** The PGlite version that wrote it: another version may not read its files. */
  pglite: string
  /** What the migrations were when it was made: a build skips making it again while they stay the same. */
  migrations: string
}

const stampPath = (template: string): string => `${template}.json`

function pgliteVersion(): string {
  const require = createRequire(import.meta.url)
  // its package.json is not exported: found beside the entry point
  const manifest = join(dirname(dirname(require.resolve('@electric-sql/pglite'))), 'package.json')
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
}

async function migrationsDigest(): Promise<string> {
  const hash = createHash('sha256')
  const folder = fileURLToPath(new URL('./migrations/', import.meta.url))
  for (const name of MIGRATION_NAMES) {
    // compiled (.js) or run from sources (.ts)
    const source = await readFile(join(folder, `${name}.js`)).catch(() =>
      readFile(join(folder, `${name}.ts`)),
    )
    hash.update(name).update(source)
  }
  return hash.digest('hex').slice(0, 16)
}

async function readStamp(template: string): Promise<TemplateStamp | undefined> {
  try {
    return JSON.parse(await readFile(stampPath(template), 'utf8')) as TemplateStamp
  } catch {
    return undefined
  }
}

/** Makes the template unless the one there was made from the same migrations and PGlite. */
export async function makeDataDirTemplate(template = DATA_DIR_TEMPLATE): Promise<'made' | 'up to date'> {
  const wanted: TemplateStamp = { pglite: pgliteVersion(), migrations: await migrationsDigest() }
  const stamp = await readStamp(template)
  if (stamp?.pglite === wanted.pglite && stamp.migrations === wanted.migrations) return 'up to date'
  const { PGlite } = await import('@electric-sql/pglite')
  const pglite = new PGlite()
  await pglite.waitReady
  const db = new Kysely<Database>({ dialect: pgliteDialect(pglite) })
  try {
    await migrateToLatest(db)
    const tarball = await pglite.dumpDataDir('gzip')
    // written aside and renamed: a reader never sees half a template
    await writeFile(`${template}.tmp`, new Uint8Array(await tarball.arrayBuffer()))
    await rename(`${template}.tmp`, template)
    await writeFile(stampPath(template), `${JSON.stringify(wanted)}\n`)
  } finally {
    await db.destroy()
  }
  return 'made'
}

async function usable(template: string): Promise<boolean> {
  return (await readStamp(template))?.pglite === pgliteVersion()
}

/**
 * Unpacks the template into `dir` if `dir` is missing or empty; false (and `dir` untouched) when
 * there is no template this PGlite can read. Unpacked here rather than by PGlite's `loadDataDir`,
 * which copies the files through its WebAssembly memory: that memory never shrinks again, about
 * 120 MB more for the life of the server.
 */
export async function unpackDataDirTemplate(dir: string, template = DATA_DIR_TEMPLATE): Promise<boolean> {
  if (!(await usable(template))) return false
  const entries = await readdir(dir).catch(() => [])
  if (entries.length > 0) return false
  // unpacked aside, then renamed: a crash half-way leaves no half data dir for PGlite to open
  const staging = `${dir}.unpacking-${process.pid}`
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  try {
    // synchronous: at start-up nothing else waits, and a failed archive leaves no write still
    // running in the staging folder. The archive's names start with `/`; tar makes them relative
    // to `cwd` (its default, kept)
    // tar is loaded only here: a server on an existing data dir or on PostgreSQL never needs it
    const { extract } = await import('tar')
    extract({ file: template, cwd: staging, sync: true, onwarn: () => {} })
    // a truncated archive may unpack without an error: what PGlite opens must be a whole data dir
    if (!existsSync(join(staging, 'PG_VERSION'))) return await discard(staging)
    await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
    await rename(staging, dir)
    return true
  } catch {
    return await discard(staging)
  }
}

/** Removes a failed unpack; false: the caller makes the data dir from scratch instead. */
async function discard(staging: string): Promise<false> {
  await rm(staging, { recursive: true, force: true })
  return false
}

/** The template as PGlite's `loadDataDir` takes it (an in-memory database), or undefined when there is none this PGlite can read. */
export async function readDataDirTemplate(template = DATA_DIR_TEMPLATE): Promise<Blob | undefined> {
  if (!(await usable(template))) return undefined
  try {
    return new Blob([await readFile(template)])
  } catch {
    return undefined
  }
}
