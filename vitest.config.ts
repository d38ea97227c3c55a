import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: ['packages/*', 'e2e'],
    // two cores: more workers only make the servers under test compete
    maxWorkers: 2,
  },
})
