/** PostgreSQL's SQLSTATE on an error from `pg` or PGlite, when it has one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code
  }
  return undefined
}

// connection failures from pg (node errors) and SQLSTATE classes 08 (connection), 53 (resources),
// 57P (operator intervention: shutdown, crash), plus the bounds TESSERA_DB_TIMEOUT sets on the
// server: 57014 (statement_timeout cancelled the statement) and 25P03 (idle in transaction too long)
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
])
const UNAVAILABLE_SQLSTATES = /^(08|53|57P)|^57014$|^25P03$/

// messages of pg and pg-pool (no codes on these): the pool's wait for a free client and a new
// client's connect timed out ('timeout exceeded when trying to connect', 'Connection terminated due
// to connection timeout', 'timeout expired'), the socket closed ('Connection terminated
// unexpectedly'), query_timeout fired ('Query read timeout'), a query on a client whose socket
// died ('Client has encountered a connection error and is not queryable', 'Client was closed and
// is not queryable'), and the pool closed at shutdown
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|timeout expired|Query read timeout|is not queryable|Cannot use a pool after calling end/i

/** True when the error says the database cannot be reached or is shutting down, not that a query is wrong. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const code = sqlState(current)
    if (code && (UNAVAILABLE_NODE_CODES.has(code) || UNAVAILABLE_SQLSTATES.test(code))) return true
    if (current instanceof Error) {
      if (UNAVAILABLE_MESSAGES.test(current.message)) return true
      current = current.cause
    } else break
  }
  return false
}
