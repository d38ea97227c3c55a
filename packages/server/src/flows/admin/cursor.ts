import { TesseraError } from '../../errors.js'
import { isUuid } from '../../ids.js'

/** Where a keyset page ended: a row's `created_at` as the database wrote it, and its id. */
export interface PagePosition {
  createdAt: string
  id: string
}

// what PostgreSQL's timestamptz output looks like (`2026-01-01 10:00:00.123+00`)
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?[+-](\d{2})(:\d{2})?$/

/** A timestamp PostgreSQL accepts back: a forged one must not reach the database as a failing cast. */
function isTimestamp(text: string): boolean {
  const match = TIMESTAMP.exec(text)
  if (!match) return false
  const [year, month, day, hour, minute, second, , offset] = match.slice(1).map(Number)
  if (year === undefined || month === undefined || day === undefined) return false
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  return (
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    (hour ?? 99) < 24 &&
    (minute ?? 99) < 60 &&
    (second ?? 99) < 60 &&
    (offset ?? 99) <= 15
  )
}

/** An opaque cursor for the next page: base64url of the position, meaningless to clients. */
export const encodeCursor = (position: PagePosition): string =>
  Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url')

/** The position of a cursor `encodeCursor` made; anything else is VALIDATION_FAILED. */
export function decodeCursor(cursor: string): PagePosition {
  const invalid = () =>
    new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'cursor', message: 'is not a cursor this server handed out' }],
    })
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalid()
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'string' ||
    !isTimestamp(parsed[0]) ||
    !isUuid(parsed[1])
  ) {
    throw invalid()
  }
  return { createdAt: parsed[0], id: parsed[1] }
}
