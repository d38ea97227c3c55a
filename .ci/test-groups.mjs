// The three groups of test files, decided from what each file (and the test modules it imports)
// uses, so that a new test file lands in its group without anyone editing a list:
// - database: starts a test server or opens a test database (the server's test/helpers/server.ts,
//   test/helpers/database.ts) or reads TEST_DATABASE_URL / TEST_REDIS_URL. Runs on the embedded
//   PGlite, then again on PostgreSQL and Redis (.ci/run).
// - process: spawns servers or CLIs, or runs the CLI in-process on a data dir (the server's
//   test/helpers/process.ts, test/helpers/cli.ts, node:child_process), and every end-to-end test.
//   Runs once. A file that also uses the database is in `database`: its PostgreSQL part would never
//   run otherwise.
// - unit: the rest (no database under test, no child process). Runs once.
// `node .ci/test-groups.mjs <group>` prints the files of a group, one a line; without a group, the
// number of files in each.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const GROUPS = /** @type {const} */ (['unit', 'database', 'process'])

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SERVER_HELPERS = 'packages/server/test/helpers/'
const DATABASE_HELPERS = new Set([`${SERVER_HELPERS}server.ts`, `${SERVER_HELPERS}database.ts`])
const PROCESS_HELPERS = new Set([`${SERVER_HELPERS}process.ts`, `${SERVER_HELPERS}cli.ts`])
const READS_SERVICES = /\bTEST_DATABASE_URL\b|\bTEST_REDIS_URL\b/
const CHILD_PROCESS = /['"]node:child_process['"]/
const LOCAL_IMPORT = /\b(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g

/** Root-relative paths with forward slashes, as vitest's include patterns want them. */
const rel = (path) => relative(ROOT, path).split(sep).join('/')

/** Test modules live in a package's test folder or in e2e; sources are never followed. */
const isTestModule = (path) => /^(packages\/[^/]+\/test|e2e)\//.test(path)

/** `./x.js` written in TypeScript names `./x.ts` when that exists. */
function resolveImport(from, specifier) {
  const path = resolve(dirname(join(ROOT, from)), specifier)
  const typescript = path.replace(/\.js$/, '.ts')
  if (typescript !== path && existsSync(typescript)) return rel(typescript)
  return existsSync(path) ? rel(path) : undefined
}

/** What a test file and the test modules it imports (transitively) use. */
function usesOf(file) {
  const uses = { database: false, process: false }
  const seen = new Set()
  const visit = (path) => {
    if (seen.has(path)) return
    seen.add(path)
    if (DATABASE_HELPERS.has(path)) uses.database = true
    if (PROCESS_HELPERS.has(path)) uses.process = true
    const text = readFileSync(join(ROOT, path), 'utf8')
    if (READS_SERVICES.test(text)) uses.database = true
    if (CHILD_PROCESS.test(text)) uses.process = true
    for (const [, specifier] of text.matchAll(LOCAL_IMPORT)) {
      const imported = resolveImport(path, specifier)
      if (imported && isTestModule(imported)) visit(imported)
    }
  }
  visit(file)
  return uses
}

/** The group of one test file (root-relative). */
export function groupOf(file) {
  if (file.startsWith('e2e/')) return 'process'
  const uses = usesOf(file)
  if (uses.database) return 'database'
  return uses.process ? 'process' : 'unit'
}

function testFiles(dir, recursive) {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return recursive && entry.name !== 'node_modules' ? testFiles(path, true) : []
    return entry.name.endsWith('.test.ts') ? [rel(path)] : []
  })
}

/** Every test file of the suite (root-relative, sorted), by group. */
export function testGroups() {
  const packages = readdirSync(join(ROOT, 'packages'), { withFileTypes: true }).filter((entry) =>
    entry.isDirectory(),
  )
  const files = [
    ...packages.flatMap((entry) => testFiles(join(ROOT, 'packages', entry.name, 'test'), true)),
    // e2e's tests sit at its top; its helpers and page below
    ...testFiles(join(ROOT, 'e2e'), false),
  ].sort()
  const groups = { unit: [], database: [], process: [] }
  for (const file of files) groups[groupOf(file)].push(file)
  return groups
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const groups = testGroups()
  const [group] = process.argv.slice(2)
  if (group === undefined) {
    for (const name of GROUPS) console.log(`${name}: ${groups[name].length} files`)
  } else if (GROUPS.includes(group)) {
    if (groups[group].length === 0) throw new Error(`no test file in the ${group} group`)
    console.log(groups[group].join('\n'))
  } else {
    throw new Error(`unknown group ${group}: one of ${GROUPS.join(', ')}`)
  }
}
