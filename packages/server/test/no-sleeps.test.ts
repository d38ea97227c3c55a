import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { sources } from './helpers/sources.js'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
/** This file: its examples below are sleeps as text. */
const SELF = fileURLToPath(import.meta.url)
const SCANNED = ['packages/server/test', 'packages/middleware/test', 'packages/client/test']

/** The longest a test may sleep, in milliseconds: a pause for pacing, never one to let time pass. */
const LONGEST_SLEEP_MS = 200

/** Files allowed a longer sleep, with the reason. Keep it short: each is a test that waits on time. */
const ALLOWED: Record<string, string> = {}

// `await sleep(…)`, `await delay(…)`, `await setTimeout(…)` (node:timers/promises), `await wait(…)`,
// `await scheduler.wait(…)`: the first argument
const AWAITED_SLEEP = /\bawait\s+(?:[\w$]+\.)?(?:sleep|delay|wait|pause|setTimeout)\(/g
// `new Promise((resolve) => setTimeout(resolve, …))`: the second argument
const PROMISED_SLEEP = /new Promise(?:<[^>]*>)?\(\s*\(?\s*([\w$]+)\s*\)?\s*=>\s*\{?\s*setTimeout\(\s*\1\s*,/g

/** The argument text from `start` to its `,` or `)` at depth 0. */
function argumentAt(text: string, start: number): string {
  let depth = 0
  for (let index = start; index < text.length; index++) {
    const char = text[index]
    if (char === '(') depth++
    else if (char === ')' && depth-- === 0) return text.slice(start, index)
    else if (char === ',' && depth === 0) return text.slice(start, index)
  }
  return text.slice(start)
}

/**
 * The value of an argument made of numbers, `const` numbers of the same file, + - * / and
 * parentheses; undefined for anything else (a parameter, an imported constant): not judged.
 */
function millisecondsOf(expression: string, constants: ReadonlyMap<string, number>): number | undefined {
  const tokens = expression.match(/[\d_.]+|[\w$]+|[-+*/()]|\S/g) ?? []
  let at = 0
  const primary = (): number | undefined => {
    const token = tokens[at++]
    if (token === undefined) return undefined
    if (token === '(') {
      const value = sum()
      return tokens[at++] === ')' ? value : undefined
    }
    if (/^[\d_.]+$/.test(token)) return Number(token.replaceAll('_', ''))
    return constants.get(token)
  }
  const product = (): number | undefined => {
    let value = primary()
    while (value !== undefined && (tokens[at] === '*' || tokens[at] === '/')) {
      const operator = tokens[at++]
      const right = primary()
      value = right === undefined ? undefined : operator === '*' ? value * right : value / right
    }
    return value
  }
  const sum = (): number | undefined => {
    let value = product()
    while (value !== undefined && (tokens[at] === '+' || tokens[at] === '-')) {
      const operator = tokens[at++]
      const right = product()
      value = right === undefined ? undefined : operator === '+' ? value + right : value - right
    }
    return value
  }
  const value = sum()
  return at === tokens.length ? value : undefined
}

/** `const NAME = 2_000` (a number, maybe with `as const` or a type) anywhere in the file. */
function numericConstants(text: string): Map<string, number> {
  const constants = new Map<string, number>()
  for (const [, name, value] of text.matchAll(/\bconst\s+([\w$]+)(?:\s*:\s*number)?\s*=\s*([\d_.]+)\b/g)) {
    if (name && value) constants.set(name, Number(value.replaceAll('_', '')))
  }
  return constants
}

interface Sleep {
  where: string
  ms: number
  code: string
}

function longSleeps(path: string): Sleep[] {
  const text = readFileSync(path, 'utf8')
  const constants = numericConstants(text)
  const lineOf = (index: number) => text.slice(0, index).split('\n').length
  const found: Sleep[] = []
  const judge = (index: number, argumentStart: number) => {
    const argument = argumentAt(text, argumentStart)
    const ms = millisecondsOf(argument, constants)
    if (ms !== undefined && ms > LONGEST_SLEEP_MS) {
      const line = lineOf(index)
      found.push({
        where: `${relative(ROOT, path)}:${line}`,
        ms,
        code: text.split('\n')[line - 1]?.trim() ?? '',
      })
    }
  }
  for (const match of text.matchAll(AWAITED_SLEEP)) judge(match.index, match.index + match[0].length)
  for (const match of text.matchAll(PROMISED_SLEEP)) judge(match.index, match.index + match[0].length)
  return found
}

describe('the tests', () => {
  it(`wait for an event or move a test clock: no sleep over ${LONGEST_SLEEP_MS} ms to let time pass`, () => {
    // a sleep guesses how long something takes: too short on a busy machine, too long everywhere
    // else. Time the code reads comes from an injected clock (helpers/clock.ts); anything else is
    // polled for (helpers/wait.ts)
    const sleeps = SCANNED.flatMap((dir) => sources(`${ROOT}${dir}`))
      .filter((path) => path !== SELF && !(relative(ROOT, path) in ALLOWED))
      .flatMap(longSleeps)
    expect(sleeps).toEqual([])
  })

  it('finds the sleeps it is meant to find', () => {
    // the check itself, on text: literals, constants and arithmetic; awaited or promised
    const found = (code: string) => {
      const constants = numericConstants(code)
      const values: (number | undefined)[] = []
      for (const match of code.matchAll(AWAITED_SLEEP))
        values.push(millisecondsOf(argumentAt(code, match.index + match[0].length), constants))
      for (const match of code.matchAll(PROMISED_SLEEP))
        values.push(millisecondsOf(argumentAt(code, match.index + match[0].length), constants))
      return values
    }
    expect(found('await sleep(1000)')).toEqual([1000])
    expect(found('await delay(1_500)')).toEqual([1500])
    expect(found('const LEAD = 2\nawait delay(LEAD * 1000 + 50)')).toEqual([2050])
    expect(found('await new Promise((resolve) => setTimeout(resolve, 300))')).toEqual([300])
    expect(found('await new Promise<void>((r) => setTimeout(r, 250))')).toEqual([250])
    // a parameter is not judged; a timer that guards a wait is not a sleep
    expect(found('await delay(intervalMs)')).toEqual([undefined])
    expect(found('const timer = setTimeout(resolve, 5000)')).toEqual([])
    expect(found("setTimeout(() => child.kill('SIGKILL'), 120_000)")).toEqual([])
  })

  it('allows longer sleeps only where they still are', () => {
    // an entry whose sleep is gone must leave the list
    for (const path of Object.keys(ALLOWED)) {
      const sleeps = longSleeps(`${ROOT}${path}`)
      expect(sleeps, `${path} no longer sleeps: remove it from ALLOWED`).not.toEqual([])
    }
  })
})
