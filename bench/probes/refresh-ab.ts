/**
 * Refresh A/B: two builds of `tessera serve` side by side on PostgreSQL, measured in alternating
 * runs of the refresh load, with pgbench `-M prepared` (the same SQL) between them, so every ratio
 * comes from one run on one machine. Server CPU per rotation from /proc, as the refresh scenario.
 *
 *   npx tsx bench/probes/refresh-ab.ts <a/cli.js> <b/cli.js> [--alg RS256] [--runs 4] [--duration 3]
 *     [--connections 16] [--warmup 4]
 *
 * Build the old commit's server into a folder of its own (e.g. packages/server/dist-base) first.
 */
import { parseArgs } from 'node:util'
import { type Child, cpuSeconds, ROOT_DIR, startNode, startScript, waitForMessage } from '../lib/children.js'
import { PGBENCH_ROWS, pgbench, runSqlFile } from '../lib/pgbench.js'
import { freePort } from '../lib/ports.js'
import {
  type BenchDatabase,
  createDatabase,
  dropCreatedDatabases,
  postgresCpuSeconds,
} from '../lib/postgres.js'
import { refreshLoad } from '../lib/refresh-load.js'
import { median } from '../lib/stats.js'
import { TESSERA_ENV, waitUntilOk } from '../lib/tessera-serve.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    alg: { type: 'string', default: 'RS256' },
    runs: { type: 'string', default: '4' },
    duration: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '4' },
    // a V8 CPU profile of both servers into this folder (slows them: not for figures)
    prof: { type: 'string' },
  },
})
const [cliA, cliB] = positionals
if (!cliA || !cliB) throw new Error('usage: refresh-ab.ts <a/cli.js> <b/cli.js> [options]')
const runs = Number(values.runs)
const duration = Number(values.duration)
const connections = Number(values.connections)
const alg = values.alg ?? 'RS256'

async function seed(env: Record<string, string>, count: number): Promise<string[]> {
  const child = await startScript('probes/seed-sessions.ts', {
    env: { ...TESSERA_ENV, ...env, BENCH_SESSIONS: String(count) },
  })
  try {
    const { tokens } = await waitForMessage<{ type: 'seeded'; tokens: string[] }>(child, 'seeded', 120_000)
    return tokens
  } finally {
    await child.stop()
  }
}

/** `node <cli> serve` on 127.0.0.1 (as startTesseraServe, with the build given). */
async function serve(cli: string, extra: Record<string, string>): Promise<{ child: Child; url: string }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const prof = values.prof ? ['--cpu-prof', `--cpu-prof-dir=${values.prof}`] : []
  const child = startNode([...prof, cli, 'serve'], {
    cwd: ROOT_DIR,
    env: { ...TESSERA_ENV, HOST: '127.0.0.1', PORT: String(port), TESSERA_PUBLIC_URL: url, ...extra },
  })
  await waitUntilOk(`${url}/readyz`, performance.now(), 60_000, child)
  return { child, url }
}

async function pgCpu<T>(work: () => Promise<T>): Promise<[T, number]> {
  const before = (await postgresCpuSeconds()) ?? Number.NaN
  const result = await work()
  return [result, ((await postgresCpuSeconds()) ?? Number.NaN) - before]
}

interface Side {
  label: string
  cli: string
  db: BenchDatabase
  pool: string[]
  url: string
  pid: number
  stop: () => Promise<void>
  rate: number[]
  cpu: number[]
  /** The same less what the server spends idle in as long (timers, housekeeping, metrics). */
  netCpu: number[]
  /** Seconds of CPU per second, idle. */
  idle: number
  pgCpu: number[]
}

const env = (db: BenchDatabase) => ({ DATABASE_URL: db.url, TESSERA_SIGNING_ALG: alg })
const sides: Side[] = []
try {
  for (const [label, cli] of [
    ['A', cliA],
    ['B', cliB],
  ] as const) {
    const db = await createDatabase(`refresh_ab_${label.toLowerCase()}`)
    const pool = await seed(env(db), connections * 2)
    const server = await serve(cli, env(db))
    sides.push({
      label,
      cli,
      db,
      pool,
      url: server.url,
      pid: server.child.pid,
      stop: () => server.child.stop(),
      rate: [],
      cpu: [],
      netCpu: [],
      idle: 0,
      pgCpu: [],
    })
  }
  const first = sides[0] as Side
  await runSqlFile(first.db, 'pgbench-seed.sql', PGBENCH_ROWS)
  for (const side of sides) {
    await refreshLoad({ url: side.url, connections, duration: Number(values.warmup), pool: side.pool })
  }
  // what a server costs doing nothing: at a few dozen rotations a second on a busy machine, its
  // timers alone would add a visible share to each rotation
  for (const side of sides) {
    const before = await cpuSeconds(side.pid)
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, duration * 1000))
    side.idle = ((await cpuSeconds(side.pid)) - before) / ((performance.now() - started) / 1000)
  }
  const pgbenchTps: number[] = []
  const pgbenchCpu: number[] = []
  for (let run = 0; run < runs; run++) {
    // alternate the order, so neither side always runs right after pgbench
    for (const side of run % 2 === 0 ? sides : [...sides].reverse()) {
      const before = await cpuSeconds(side.pid)
      const [result, postgres] = await pgCpu(() =>
        refreshLoad({ url: side.url, connections, duration, pool: side.pool }),
      )
      const cpu = (await cpuSeconds(side.pid)) - before
      side.rate.push(result.rotationsPerSecond)
      side.cpu.push((cpu / result.rotations) * 1000)
      const seconds = result.rotations / result.rotationsPerSecond
      side.netCpu.push(((cpu - side.idle * seconds) / result.rotations) * 1000)
      side.pgCpu.push((postgres / result.rotations) * 1000)
      if (result.failed) process.stdout.write(`${side.label}: ${result.failed} failed\n`)
    }
    const [bench, postgres] = await pgCpu(() => pgbench(first.db, connections, duration, 'prepared'))
    pgbenchTps.push(bench.tps)
    pgbenchCpu.push((postgres / bench.transactions) * 1000)
  }
  const pg = median(pgbenchTps)
  const f = (values: number[], digits: number) => values.map((v) => v.toFixed(digits)).join(' ')
  process.stdout.write(
    `${alg}, ${connections} conn, ${runs} x ${duration} s; pgbench -M prepared ${pg.toFixed(0)} tx/s (${f(pgbenchTps, 0)}), PostgreSQL ${median(pgbenchCpu).toFixed(2)} ms CPU/tx\n`,
  )
  for (const side of sides) {
    process.stdout.write(
      `${side.label} ${side.cli}\n  rotations/s ${median(side.rate).toFixed(0)} (${f(side.rate, 0)}), ${(median(side.rate) / pg).toFixed(2)}x pgbench; server CPU/rotation ${median(side.cpu).toFixed(3)} ms (${f(side.cpu, 3)}), less idle (${(side.idle * 1000).toFixed(0)} ms/s) ${median(side.netCpu).toFixed(3)} ms; PostgreSQL ${median(side.pgCpu).toFixed(2)} ms\n`,
    )
  }
} finally {
  for (const side of sides) await side.stop()
  await dropCreatedDatabases()
}
