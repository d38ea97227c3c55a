import { readFileSync } from 'node:fs'
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config'
import { testGroups } from './.ci/test-groups.mjs'

// unit, database and process: each test file's group is read from what it imports (.ci/test-groups.mjs),
// so a new file needs no entry here. `npm test` runs the three on the embedded PGlite; .ci/run runs
// `--project 'database*'` again on PostgreSQL and Redis.
const groups: Record<'unit' | 'database' | 'process', string[]> = testGroups()

// compiles the server's dist/ once, for the tests that spawn `node dist/cli.js` (or make a data-dir
// template with it); skipped when up to date
const SERVER_BUILD = 'packages/server/test/helpers/build.ts'
// `npm run build` of every package: the example API imports @tessera/middleware's dist, the page
// loads @tessera/client's dist; skipped when up to date
const PACKAGES_BUILD = 'e2e/helpers/build.ts'

// The unit and database files share one module graph per worker (isolate: false): each file would
// otherwise import the server's sources again, about a second of a busy core per file (CI: 118 s of
// imports in the PGlite pass, 24 s without). They close what they open in afterAll, and they
// replace no module, so sharing changes no answer. A file that replaces a module (vi.mock) gets
// a graph of its own, in the group's `-isolated` project: the module it mocks may be loaded already.
const mocksModules = (file: string): boolean => /\bvi\.(?:mock|doMock)\(/.test(readFileSync(file, 'utf8'))

function shared(name: 'unit' | 'database', test: TestProjectInlineConfiguration['test']) {
  const files = groups[name]
  return [
    { test: { ...test, name, include: files.filter((file) => !mocksModules(file)), isolate: false } },
    { test: { ...test, name: `${name}-isolated`, include: files.filter(mocksModules) } },
  ]
}

export default defineConfig({
  test: {
    // two cores: more workers only make the servers under test compete
    maxWorkers: 2,
    // a project without files (no database file mocks a module, say) is no error
    passWithNoTests: true,
    projects: [
      ...shared('unit', { testTimeout: 30_000, hookTimeout: 60_000 }),
      ...shared('database', {
        globalSetup: [SERVER_BUILD],
        // some start server processes too: slow on a loaded 2-core machine
        testTimeout: 90_000,
        hookTimeout: 60_000,
      }),
      {
        test: {
          name: 'process',
          include: groups.process,
          // the packages' build first: the server's then finds its dist/ up to date
          globalSetup: [PACKAGES_BUILD, SERVER_BUILD],
          testTimeout: 90_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
