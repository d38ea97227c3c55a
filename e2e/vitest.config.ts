import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'e2e',
    include: ['*.test.ts'],
    // builds every package once: the example API imports @tessera/middleware's dist, the page
    // loads @tessera/client's dist, and the CLI runs the server's dist
    globalSetup: ['helpers/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
