import { readdir, readFile } from 'node:fs/promises'
import pg from 'pg'

/** The server database the harness creates its throwaway databases beside. */
export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export interface BenchDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

// every database this run created and has not dropped yet
const created = new Set<string>()

/** Runs `work` on a connection of its own to `url`, closed afterwards. */
async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

const admin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withClient(ADMIN_URL, work)

/** Answers the server version, or undefined when PostgreSQL does not answer. */
export async function postgresVersion(): Promise<string | undefined> {
  try {
    return await admin(async (client) => (await client.query('show server_version')).rows[0].server_version)
  } catch {
    return undefined
  }
}

/** Creates an empty database named after this process and `label`. */
export async function createDatabase(label: string): Promise<BenchDatabase> {
  const name = `tessera_bench_${process.pid}_${label.replace(/[^a-z0-9_]/g, '_')}`
  await admin((client) => client.query(`drop database if exists ${name} with (force)`))
  await admin((client) => client.query(`create database ${name}`))
  created.add(name)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.href,
    async drop() {
      await admin((client) => client.query(`drop database if exists ${name} with (force)`))
      created.delete(name)
    },
  }
}

/** Drops every database this run created (on failure or interruption). */
export async function dropCreatedDatabases(): Promise<void> {
  for (const name of [...created]) {
    try {
      await admin((client) => client.query(`drop database if exists ${name} with (force)`))
      created.delete(name)
    } catch (error) {
      process.stderr.write(`could not drop database ${name}: ${String(error)}\n`)
    }
  }
}

/** Runs SQL statements on `url`, one client, one after another. */
export async function runSql(url: string, statements: string[]): Promise<void> {
  await withClient(url, async (client) => {
    for (const statement of statements) await client.query(statement)
  })
}

/** The first column of the first row of `query` on `url`, as a number. */
export function queryNumber(url: string, query: string): Promise<number> {
  return withClient(url, async (client) => {
    const result = await client.query({ text: query, rowMode: 'array' })
    return Number(result.rows[0]?.[0])
  })
}

/**
 * CPU time (seconds, user + system) PostgreSQL's processes on this machine have used so far: the
 * live ones, plus the backends that have exited, which the postmaster has reaped into its
 * children's times. The difference over a run is what the run cost PostgreSQL. Undefined when no
 * local PostgreSQL process is found (a remote BENCH_DATABASE_URL).
 */
export async function postgresCpuSeconds(): Promise<number | undefined> {
  let ticks = 0
  let found = false
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    if (command !== 'postgres') continue
    found = true
    // after the command: utime, stime, cutime, cstime are the 12th to 15th fields
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
  }
  return found ? ticks / 100 : undefined
}
