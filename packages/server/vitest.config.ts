import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'server',
    include: ['test/**/*.test.ts'],
    // compiles dist/ once, for the CLI tests that spawn `node dist/cli.js`
    globalSetup: ['test/helpers/build.ts'],
    // CLI tests spawn several processes, each opening the embedded database: slow on a loaded 2-core machine
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
})
