import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BENCH_DIR, trackChild } from './children.js'
import { type BenchDatabase, queryNumber, runSql } from './postgres.js'

export const PGBENCH_SCRIPT = join(BENCH_DIR, 'sql/pgbench-refresh.sql')
/** Sessions the pgbench script picks from at random (its `\set i random(1, 10000)`). */
export const PGBENCH_ROWS = 10_000

/** Runs a `.sql` file of bench/sql with `:rows` replaced, statement by statement. */
export async function runSqlFile(database: BenchDatabase, file: string, rows: number): Promise<void> {
  const text = await readFile(join(BENCH_DIR, 'sql', file), 'utf8')
  const statements = text
    .replace(/^--.*$/gm, '')
    .split(/;\s*$/m)
    .map((statement) => statement.trim())
    .filter(Boolean)
    .map((statement) => statement.replaceAll(':rows', String(rows)))
  await runSql(database.url, statements)
}

export interface PgbenchResult {
  tps: number
  transactions: number
  /** Milliseconds. */
  latencyAverage: number
}

const SUCCESSORS = 'select count(*) from refresh_tokens'

/**
 * How pgbench sends the statement: `prepared` as Tessera does on PostgreSQL (parsed and planned
 * once per connection: `preparedAs` in packages/server/src/store/postgres-pool.ts), `simple` as
 * pgbench does by default (parsed and planned every time, as Tessera did before).
 */
export type PgbenchMode = 'prepared' | 'simple'

/**
 * `pgbench -n -M <mode> -c <clients> -j 2 -T <seconds> -f pgbench-refresh.sql` against `database`.
 * Throws unless nearly every transaction inserted a successor: a script whose statement found no
 * token would be fast for nothing.
 */
export async function pgbench(
  database: BenchDatabase,
  clients: number,
  seconds: number,
  mode: PgbenchMode,
): Promise<PgbenchResult> {
  const before = await queryNumber(database.url, SUCCESSORS)
  let result = await runPgbench(database, clients, seconds, mode)
  // pgbench's time counts from before its connections are open: on a busy machine 64 of them can
  // take the whole of a short run, which then ends with nothing done. Once more, twice as long
  if (result.transactions === 0) result = await runPgbench(database, clients, seconds * 2, mode)
  const inserted = (await queryNumber(database.url, SUCCESSORS)) - before
  if (inserted < result.transactions * 0.95) {
    throw new Error(
      `pgbench: ${result.transactions} transactions but ${inserted} rotations: check ${PGBENCH_SCRIPT}`,
    )
  }
  return result
}

function runPgbench(
  database: BenchDatabase,
  clients: number,
  seconds: number,
  mode: PgbenchMode,
): Promise<PgbenchResult> {
  const url = new URL(database.url)
  const args = [
    '-n',
    '-M',
    mode,
    '-c',
    String(clients),
    '-j',
    '2',
    '-T',
    String(Math.max(1, Math.round(seconds))),
    '-f',
    PGBENCH_SCRIPT,
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username || 'postgres'),
    database.name,
  ]
  return new Promise((resolve, reject) => {
    const child = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    trackChild(child)
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const transactions = /number of transactions actually processed: (\d+)/.exec(output)?.[1]
      // with no transaction done pgbench prints no rates
      const tps = /tps = ([\d.]+)/.exec(output)?.[1] ?? (transactions === '0' ? '0' : undefined)
      const latency = /latency average = ([\d.]+) ms/.exec(output)?.[1]
      if (code !== 0 || tps === undefined || transactions === undefined) {
        return reject(new Error(`pgbench failed (${code}):\n${output}`))
      }
      resolve({
        tps: Number(tps),
        transactions: Number(transactions),
        latencyAverage: Number(latency ?? Number.NaN),
      })
    })
  })
}
