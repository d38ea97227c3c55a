/** PostgreSQL's SQLSTATE on an error from `pg` or PGlite, when it has one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code
  }
  return undefined
}

export const isUniqueViolation = (error: unknown): boolean => sqlState(error) === '23505'

// connection failures from pg (node errors) and SQLSTATE classes 08 (connection), 53 (resources),
// 57P (operator intervention: shutdown, cancel on timeout)
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
])

/** True when the error says the database cannot be reached or is shutting down, not that a query is wrong. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const code = sqlState(current)
    if (code && (UNAVAILABLE_NODE_CODES.has(code) || /^(08|53|57P)/.test(code))) return true
    if (current instanceof Error) {
      if (
        /Connection terminated|connection timeout|timeout exceeded when trying to connect|Cannot use a pool after calling end/i.test(
          current.message,
        )
      ) {
        return true
      }
      current = current.cause
    } else break
  }
  return false
}
