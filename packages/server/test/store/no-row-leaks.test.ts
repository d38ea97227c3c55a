import { readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { sources } from '../helpers/sources.js'

const SRC = fileURLToPath(new URL('../../src', import.meta.url))

/** Every snake_case column the tables declare (store/database.ts), so a new column is covered too. */
function columnNames(): Set<string> {
  const declared = readFileSync(join(SRC, 'store', 'database.ts'), 'utf8').matchAll(
    /^\s+([a-z]+(?:_[a-z]+)+)\??:/gm,
  )
  return new Set([...declared].map((match) => match[1] ?? ''))
}

// accesses that are no row field: the OIDC claim in a JWT payload
const NOT_ROWS: Record<string, string[]> = {
  'tokens/access-token.ts': ['email_verified'],
}

describe('rows stay in store/', () => {
  it('reads no snake_case column of a row outside store/: the stores hand out records', () => {
    const columns = columnNames()
    expect(columns.size).toBeGreaterThan(20)
    const offenders = sources(SRC)
      .filter((path) => !relative(SRC, path).startsWith(`store${sep}`))
      .flatMap((path) => {
        const file = relative(SRC, path).split(sep).join('/')
        const allowed = NOT_ROWS[file] ?? []
        return readFileSync(path, 'utf8')
          .split('\n')
          .flatMap((line, index) =>
            [...line.matchAll(/\??\.([a-z]+(?:_[a-z]+)+)\b/g)]
              .map((match) => match[1] ?? '')
              .filter((name) => columns.has(name) && !allowed.includes(name))
              .map((name) => `${file}:${index + 1}: .${name}`),
          )
      })
    expect(offenders).toEqual([])
  })
})
