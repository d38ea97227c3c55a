import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { toTesseraError } from '../../src/http/problem.js'
import { isDatabaseUnavailable } from '../../src/store/errors.js'

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code })
const serverError = (code: string) =>
  Object.assign(new pg.DatabaseError('from the server', 0, 'error'), { code })

describe('which database errors mean unavailable (503), not a bug (500)', () => {
  it.each([
    // pg-pool: no free client within connectionTimeoutMillis, and a new client's connect timing out
    ['pool wait', new Error('timeout exceeded when trying to connect')],
    [
      'connect timeout',
      new Error('Connection terminated due to connection timeout', { cause: new Error('x') }),
    ],
    // pg: query_timeout, the socket closing, a client whose socket died
    ['query_timeout', new Error('Query read timeout')],
    ['socket closed', new Error('Connection terminated unexpectedly')],
    ['dead client', new Error('Client has encountered a connection error and is not queryable')],
    ['closed client', new Error('Client was closed and is not queryable')],
    ['pool closed', new Error('Cannot use a pool after calling end on the pool')],
    ['refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['statement_timeout', serverError('57014')],
    ['idle in transaction timeout', serverError('25P03')],
    ['admin shutdown', serverError('57P01')],
    ['too many connections', serverError('53300')],
    ['connection failure', serverError('08006')],
    // what a rollback on a discarded connection throws, wrapping the failure that discarded it
    [
      'discarded connection',
      new Error('database connection discarded after an earlier failure', {
        cause: new Error('Query read timeout'),
      }),
    ],
  ])('%s', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true)
    const problem = toTesseraError(error)
    expect(problem.code).toBe('SERVICE_UNAVAILABLE')
    expect(problem.retryAfter).toBeGreaterThan(0)
  })

  it.each([
    ['syntax error', serverError('42601')],
    ['unique violation', serverError('23505')],
    ['a bug', new TypeError('cannot read properties of undefined')],
    ['discarded after a bug', new Error('database connection discarded', { cause: new TypeError('bug') })],
  ])('%s is not', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false)
    expect(toTesseraError(error).code).toBe('INTERNAL')
  })
})
