import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ERRORS } from '../src/errors.js'

// the repository's own API reference: what users read, so it must name every code we send
const apiMd = fileURLToPath(new URL('../../../docs/api.md', import.meta.url))

describe('the error table', () => {
  it('matches every code and status of docs/api.md, both ways', () => {
    const rows = [...readFileSync(apiMd, 'utf8').matchAll(/^\| ([A-Z_]+) +\| (\d{3}) +\|/gm)]
    const documented = Object.fromEntries(rows.map((row) => [row[1], Number(row[2])]))
    expect(Object.keys(documented).length).toBeGreaterThan(15)
    const ours = Object.fromEntries(Object.entries(ERRORS).map(([code, { status }]) => [code, status]))
    expect(ours).toEqual(documented)
  })
})
