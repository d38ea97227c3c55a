import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERRORS } from '../../server/src/errors.js'
import { CLIENT_ERROR_CODES, SERVER_ERROR_CODES } from '../src/index.js'

describe('error codes', () => {
  it("knows exactly the server's problem codes", () => {
    expect([...SERVER_ERROR_CODES].sort()).toEqual(Object.keys(ERRORS).sort())
  })

  it('documents every code the client raises itself in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    for (const code of CLIENT_ERROR_CODES) expect(readme).toContain(`\`${code}\``)
  })
})
