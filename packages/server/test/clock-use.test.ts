import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../src', import.meta.url))

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

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
