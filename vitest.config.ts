import { defineConfig } from 'vitest/config'
import { testGroups } from './.ci/test-groups.mjs'

// unit, database and process: each test file's group is read from what it imports (.ci/test-groups.mjs),
// so a new file needs no entry here. `npm test` runs the three on the embedded PGlite; .ci/run runs
// `--project database` again on PostgreSQL and Redis.
const groups: Record<'unit' | 'database' | 'process', string[]> = testGroups()

// compiles the server's dist/ once, for the tests that spawn `node dist/cli.js` (or make a data-dir
// template with it); skipped when up to date
const SERVER_BUILD = 'packages/server/test/helpers/build.ts'
// `npm run build` of every package: the example API imports @tessera/middleware's dist, the page
// loads @tessera/client's dist; skipped when up to date
const PACKAGES_BUILD = 'e2e/helpers/build.ts'

export default defineConfig({
  test: {
    // two cores: more workers only make the servers under test compete
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: groups.unit,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'database',
          include: groups.database,
          globalSetup: [SERVER_BUILD],
          // some start server processes too: slow on a loaded 2-core machine
          testTimeout: 90_000,
          hookTimeout: 60_000,
        },
      },
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
