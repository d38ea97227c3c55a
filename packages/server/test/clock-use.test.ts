import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { sources } from './helpers/sources.js'

const SRC = fileURLToPath(new URL('../src', import.meta.url))

describe('the clock', () => {
  it('is read only through clock.ts in the server: no Date.now() or new Date() elsewhere', () => {
    // time that matters (limits, lockout, keys, housekeeping) comes from the injected Clock, so a
    // test moves it instead of sleeping; elapsed-time measurements use performance.now()
    const offenders = sources(SRC)
      .filter((path) => relative(SRC, path) !== 'clock.ts')
      .flatMap((path) =>
        readFileSync(path, 'utf8')
          .split('\n')
          .map((line, index) => ({ line, where: `${relative(SRC, path)}:${index + 1}` }))
          .filter(({ line }) => /\bDate\.now\(\)|\bnew Date\(\)/.test(line) && !/^\s*(\/\/|\*)/.test(line))
          .map(({ where, line }) => `${where}: ${line.trim()}`),
      )
    expect(offenders).toEqual([])
  })
})
