// Prints the server's test files that run against the database under test, for the PostgreSQL and
// Redis pass: those that start a test server or open a test database (helpers/server.js,
// helpers/database.js) or read TEST_DATABASE_URL / TEST_REDIS_URL themselves. The rest (config,
// mail, CLI on the embedded database, the middleware and client packages, e2e) ran in the first
// pass and would only repeat it.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const USES_DATABASE = /helpers\/(server|database)\.js|TEST_DATABASE_URL|TEST_REDIS_URL/

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'helpers' ? [] : testFiles(path)
    return entry.name.endsWith('.test.ts') ? [path] : []
  })
}

const files = testFiles('packages/server/test').filter((path) =>
  USES_DATABASE.test(readFileSync(path, 'utf8')),
)
if (files.length === 0) throw new Error('no database test found')
console.log(files.sort().join('\n'))
