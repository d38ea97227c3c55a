/**
 * The frontier of password hashing at once (issue 21): logins per second against the cheap route's
 * p99 under a login flood, for each setting of the hashing gate, measured in one run.
 *
 *   npm run bench:hash-frontier [-- --no-build]
 *   BENCH_FRONTIER_ROUNDS=4 BENCH_FRONTIER_SECONDS=5 (the defaults)
 *
 * One PostgreSQL database and one `tessera serve` per setting, all on it, idle but the one
 * measured: TESSERA_HASH_CONCURRENCY from 1 to UV_THREADPOOL_SIZE − 1 (the most the gate allows),
 * and the default concurrency made adaptive by TESSERA_HASH_LOOP_DELAY (one hash at a time while
 * the event loop's p99 delay is over 5 or 10 ms). Each setting takes the flood of scenario 2 of
 * `npm run bench` (logins at 8 connections, GET /healthz at 10 beside them) once per round, in
 * rotating order, after as long a run of logins alone; the baseline is raw argon2id verifications with the server's parameters on all
 * cores, measured in every round. The report names the setting with the most logins/s whose
 * /healthz p99 (median over the rounds) stays ≤ 15 ms: the default Tessera should have.
 * Loads only 127.0.0.1; about four minutes; every child is killed and the database dropped on exit.
 */
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { defaultHashConcurrency } from '../packages/server/src/config.js'
import { buildWorkspaces } from './lib/build.js'
import { type Child, cpuSeconds, cpuSecondsByThread, killAllChildren } from './lib/children.js'
import { type LoadResult, load } from './lib/load.js'
import { currentLoad } from './lib/machine.js'
import { createDatabase, dropCreatedDatabases, postgresCpuSeconds } from './lib/postgres.js'
import { startProbe } from './lib/probe.js'
import { median } from './lib/stats.js'
import { expectLogin, loginLoad, registerUsers, startTesseraServe } from './lib/tessera-serve.js'

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`)
  return value
}
const ROUNDS = env('BENCH_FRONTIER_ROUNDS', 4)
const SECONDS = env('BENCH_FRONTIER_SECONDS', 5)
const LOGIN_CONNECTIONS = 8
const HEALTH_CONNECTIONS = 10
const USERS = 8
const P99_BOUND_MS = 15

const log = (message: string) => process.stderr.write(`${message}\n`)
const { values: flags } = parseArgs({ options: { 'no-build': { type: 'boolean', default: false } } })

const children: Child[] = []
const cleanup = async () => {
  await Promise.all(children.map((child) => child.stop(2000)))
  killAllChildren()
  await dropCreatedDatabases()
}
const abort = (why: string, code: number) => {
  log(`\n${why}: stopping servers`)
  cleanup().finally(() => process.exit(code))
}
process.once('SIGINT', () => abort('interrupted', 130))
process.once('SIGTERM', () => abort('terminated', 143))

const started = performance.now()
const loadAtStart = currentLoad()
if (!flags['no-build']) {
  log('building @tessera/server (tessera serve runs from dist/)')
  if (!(await buildWorkspaces(['@tessera/server'], log))) {
    await cleanup()
    process.exit(1)
  }
}

// ---- the settings: every concurrency the gate allows, and the default made adaptive
const threadPool = Number(process.env.UV_THREADPOOL_SIZE) || 4
const defaultConcurrency = defaultHashConcurrency(process.env)
interface Setting {
  key: string
  label: string
  env: Record<string, string>
}
const settings: Setting[] = [
  ...Array.from({ length: threadPool - 1 }, (_, i) => ({
    key: `c${i + 1}`,
    label: `${i + 1} at once${i + 1 === defaultConcurrency ? ' (the default)' : ''}`,
    env: { TESSERA_HASH_CONCURRENCY: String(i + 1), TESSERA_HASH_LOOP_DELAY: 'off' },
  })),
  ...[5, 10].map((delay) => ({
    key: `adaptive-${delay}`,
    label: `${defaultConcurrency} at once, 1 while the loop's p99 delay ≥ ${delay} ms`,
    env: { TESSERA_HASH_CONCURRENCY: String(defaultConcurrency), TESSERA_HASH_LOOP_DELAY: String(delay) },
  })),
]

// a hung step cannot keep servers around: twice the loads' own time, and three minutes for the rest
const loadSeconds = (settings.length * 2 + 1) * SECONDS * ROUNDS + settings.length * 2
setTimeout(() => abort('the run took too long', 1), (2 * loadSeconds + 180) * 1000).unref()

log(`starting ${settings.length} tessera serve on one PostgreSQL database, and the argon2 probe`)
const database = await createDatabase('frontier')
const servers: { setting: Setting; url: string; pid: number }[] = []
for (const setting of settings) {
  const server = await startTesseraServe({ DATABASE_URL: database.url, ...setting.env })
  children.push(server.child)
  servers.push({ setting, url: server.url, pid: server.child.pid })
}
const emails = await registerUsers(servers[0]?.url ?? '', USERS)
const argon2 = await startProbe('probes/argon2-verify.ts', {
  // all the cores: what the machine can verify, whatever the server lets run
  env: { BENCH_CONCURRENCY: String(availableParallelism()) },
})
children.push(argon2.child)

const logins = (url: string, seconds: number): Promise<LoadResult> =>
  loginLoad(`${url}/auth/login`, emails, { connections: LOGIN_CONNECTIONS, duration: seconds })
const flood = (url: string, seconds: number): Promise<[LoadResult, LoadResult]> =>
  Promise.all([
    logins(url, seconds),
    load({ url: `${url}/healthz`, connections: HEALTH_CONNECTIONS, duration: seconds }),
  ])
// each server answers a login, then a second of flood warms it up (JIT, pools)
for (const server of servers) {
  await expectLogin(`${server.url}/auth/login`, emails)
  await flood(server.url, 1)
}

interface Sample {
  /** Logins/s with nothing beside them. */
  alone: number
  logins: number
  healthP99: number
  healthPerSecond: number
  loginP99: number
  failed: number
  /** Milliseconds of the server's main thread per login alone. */
  mainCpuPerLogin: number
  /** Milliseconds of its other threads (argon2 on libuv's pool, V8's helpers) per login alone. */
  threadsCpuPerLogin: number
  postgresCpuPerLogin: number
}
const samples = new Map<string, Sample[]>(settings.map((setting) => [setting.key, []]))
const raw: number[] = []
/** Milliseconds of the probe's CPU per raw verification. */
const rawCpu: number[] = []
log(
  `${ROUNDS} rounds: each setting ${SECONDS} s of logins alone (${LOGIN_CONNECTIONS} conn), ${SECONDS} s of logins + /healthz (${HEALTH_CONNECTIONS} conn); then raw argon2`,
)
for (let round = 0; round < ROUNDS; round++) {
  // rotating order: a slope in the machine's speed favours no setting
  const order = servers.map((_, i) => servers[(i + round) % servers.length] ?? servers[0])
  for (const server of order) {
    if (!server) continue
    // logins alone: what a login costs the server and PostgreSQL, nothing else in the process
    const [serverBefore, postgresBefore] = [await cpuSecondsByThread(server.pid), await postgresCpuSeconds()]
    const alone = await logins(server.url, SECONDS)
    const [serverAfter, postgresAfter] = [await cpuSecondsByThread(server.pid), await postgresCpuSeconds()]
    const perLogin = (seconds: number) => (seconds / Math.max(1, alone.ok)) * 1000
    const [during, health] = await flood(server.url, SECONDS)
    samples.get(server.setting.key)?.push({
      alone: alone.okPerSecond,
      logins: during.okPerSecond,
      healthP99: health.p99,
      healthPerSecond: health.okPerSecond,
      loginP99: during.p99,
      failed: alone.failed + during.failed + health.failed,
      mainCpuPerLogin: perLogin(serverAfter.main - serverBefore.main),
      threadsCpuPerLogin: perLogin(serverAfter.others - serverBefore.others),
      postgresCpuPerLogin: perLogin((postgresAfter ?? Number.NaN) - (postgresBefore ?? Number.NaN)),
    })
  }
  const probeBefore = await cpuSeconds(argon2.child.pid)
  const perSecond = await argon2.run(SECONDS)
  raw.push(perSecond)
  rawCpu.push((((await cpuSeconds(argon2.child.pid)) - probeBefore) / (perSecond * SECONDS)) * 1000)
  log(`  round ${round + 1}/${ROUNDS}: raw argon2 ${raw.at(-1)?.toFixed(0)} verify/s`)
}

// ---- report, in Markdown (docs/benchmarks.md)
const rawMedian = median(raw)
const rows = settings.map((setting) => {
  const runs = samples.get(setting.key) ?? []
  const of = (pick: (sample: Sample) => number) => median(runs.map(pick))
  return {
    setting,
    alone: of((s) => s.alone),
    logins: of((s) => s.logins),
    healthP99: of((s) => s.healthP99),
    healthP99Max: Math.max(...runs.map((s) => s.healthP99)),
    healthPerSecond: of((s) => s.healthPerSecond),
    loginP99: of((s) => s.loginP99),
    failed: runs.reduce((sum, s) => sum + s.failed, 0),
    mainCpu: of((s) => s.mainCpuPerLogin),
    threadsCpu: of((s) => s.threadsCpuPerLogin),
    postgresCpu: of((s) => s.postgresCpuPerLogin),
  }
})
const within = rows.filter((row) => row.healthP99 <= P99_BOUND_MS)
const best = within.reduce<(typeof rows)[number] | undefined>(
  (top, row) => (top === undefined || row.logins > top.logins ? row : top),
  undefined,
)
const lines = [
  `| setting | logins alone: /s, of raw | CPU per login alone: main thread, other threads (argon2), PostgreSQL | logins in the flood: /s, of raw | /healthz p99 in the flood (median, worst) | /healthz/s in the flood | login p99 in the flood |`,
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (row) =>
      `| ${row.setting.label}${row.failed ? `, ${row.failed} failed` : ''} | ${row.alone.toFixed(1)}, ${(row.alone / rawMedian).toFixed(2)}x | ${row.mainCpu.toFixed(2)} ms, ${row.threadsCpu.toFixed(1)} ms, ${row.postgresCpu.toFixed(2)} ms | ${row.logins.toFixed(1)}, ${(row.logins / rawMedian).toFixed(2)}x | ${row.healthP99.toFixed(1)} ms, ${row.healthP99Max.toFixed(1)} ms | ${Math.round(row.healthPerSecond).toLocaleString('en')} | ${row.loginP99.toFixed(0)} ms |`,
  ),
]
log('')
console.log(lines.join('\n'))
console.log(
  `\nraw argon2id verify (m=19456,t=2,p=1), ${availableParallelism()} at once, ${threadPool} libuv threads: ${rawMedian.toFixed(0)} verify/s (runs: ${raw.map((r) => r.toFixed(0)).join(', ')}), ${median(rawCpu).toFixed(1)} ms of CPU per verification`,
)
console.log(
  best
    ? `most logins/s with /healthz p99 ≤ ${P99_BOUND_MS} ms: ${best.setting.label}, ${best.logins.toFixed(1)} logins/s (${(best.logins / rawMedian).toFixed(2)}x raw)`
    : `no setting kept /healthz p99 ≤ ${P99_BOUND_MS} ms`,
)
console.log(
  `\n${ROUNDS} rounds of ${SECONDS} s; load average ${loadAtStart.toFixed(1)} at the start, ${currentLoad().toFixed(1)} at the end; took ${((performance.now() - started) / 1000).toFixed(0)} s`,
)
await cleanup()
process.exit(0)
