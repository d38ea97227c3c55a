import { readFile } from 'node:fs/promises'
import { beforeAll, describe, expect, it } from 'vitest'
import { AUTH_EVENT_TYPES } from '../../src/events.js'
import { createMetrics } from '../../src/metrics.js'

const ALERTS = new URL('../../../../docs/alerts.yml', import.meta.url)

interface Rule {
  alert: string
  /** The rule's lines, keys at the indentation of `alert:`. */
  fields: Map<string, string>
  expr: string
}

let text: string
let rules: Rule[]
beforeAll(async () => {
  text = await readFile(ALERTS, 'utf8')
  rules = parseRules(text)
})

/**
 * Just enough YAML for this file, with no YAML package: block-style mappings and lists indented by
 * two spaces, `key: value`, and `|` block scalars. Anything else fails the test.
 */
function parseRules(source: string): Rule[] {
  const found: Rule[] = []
  let current: Rule | undefined
  let ruleIndent = -1
  let block: { key: string; indent: number; lines: string[] } | undefined
  let parent = ''
  const finishBlock = () => {
    if (block && current) current.fields.set(block.key, block.lines.join('\n').trim())
    block = undefined
  }
  for (const [index, raw] of source.split('\n').entries()) {
    const where = `line ${index + 1}: ${raw}`
    if (raw.includes('\t')) throw new Error(`tab in ${where}`)
    const indent = raw.length - raw.trimStart().length
    if (block && (raw.trim() === '' || indent > block.indent)) {
      block.lines.push(raw.trim())
      continue
    }
    finishBlock()
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (indent % 2 !== 0) throw new Error(`odd indentation at ${where}`)
    const match = /^(- )?([A-Za-z_]+):(?: (.*))?$/.exec(line)
    if (!match?.[2]) throw new Error(`not a "key: value" line at ${where}`)
    const key = match[2]
    const value = (match[3] ?? '').trim()
    if (value.startsWith('"') && !/^"(?:[^"\\]|\\.)*"$/.test(value))
      throw new Error(`bad quoting at ${where}`)
    if (key === 'alert') {
      current = { alert: value, fields: new Map(), expr: '' }
      found.push(current)
      ruleIndent = indent + 2
      parent = ''
      continue
    }
    if (!current || indent < ruleIndent) {
      current = undefined
      continue
    }
    const path = indent === ruleIndent ? key : `${parent}.${key}`
    if (indent === ruleIndent) parent = key
    if (value === '|') block = { key: path, indent, lines: [] }
    else current.fields.set(path, value.replace(/^"(.*)"$/, '$1'))
  }
  finishBlock()
  for (const rule of found) rule.expr = rule.fields.get('expr') ?? ''
  return found
}

describe('docs/alerts.yml', () => {
  it('has the alerts operators need, each named once', () => {
    const names = rules.map((rule) => rule.alert)
    expect(new Set(names).size).toBe(names.length)
    expect(names).toEqual(
      expect.arrayContaining([
        'TesseraRefreshTokenReuse',
        'TesseraLockoutSpike',
        'TesseraFailedLoginSpike',
        'TesseraInternalError',
        'TesseraServiceUnavailable',
        'TesseraAuditWriteFailures',
        'TesseraPasswordHashSaturation',
      ]),
    )
    expect(text).toMatch(/^groups:$/m)
  })

  it('gives every rule an expression, a severity and a summary', () => {
    for (const rule of rules) {
      expect(rule.expr, rule.alert).not.toBe('')
      expect(rule.fields.get('labels.severity'), rule.alert).toMatch(/^(warning|critical)$/)
      expect(rule.fields.get('annotations.summary'), rule.alert).toBeTruthy()
      const duration = rule.fields.get('for')
      if (duration !== undefined) expect(duration, rule.alert).toMatch(/^\d+[smhd]$/)
    }
  })

  it('writes expressions with balanced brackets over metrics and event types the server exports', async () => {
    const exported = new Set(
      [
        ...(await createMetrics({ countActiveSessions: async () => 0 }).scrape()).matchAll(
          /^# TYPE (\S+) /gm,
        ),
      ].map((match) => match[1]),
    )
    for (const { alert, expr } of rules) {
      const stack: string[] = []
      for (const char of expr) {
        if ('([{'.includes(char)) stack.push(char)
        else if (')]}'.includes(char)) expect(stack.pop(), alert).toBe('([{'[')]}'.indexOf(char)])
      }
      expect(stack, alert).toEqual([])
      const metrics = [...expr.matchAll(/\b(tessera_[a-z_]+)/g)].map((match) => match[1])
      expect(metrics.length, alert).toBeGreaterThan(0)
      for (const metric of metrics) expect(exported, `${alert}: ${metric}`).toContain(metric)
      for (const [, type] of expr.matchAll(/type="([^"]+)"/g)) {
        expect(AUTH_EVENT_TYPES as readonly string[], `${alert}: ${type}`).toContain(type)
      }
    }
  })
})
