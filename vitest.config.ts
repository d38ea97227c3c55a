import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: ['packages/*'],
    // two cores: more workers only make the servers under test compete
    maxWorkers: 2,
  },
})
