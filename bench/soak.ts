/**
 * `npm run soak`: one `tessera serve` under a steady mixed load for a long time (10 minutes by
 * default), to see whether its memory and event-loop lag stay flat. Starts the server itself on
 * 127.0.0.1 (embedded PGlite in a new data dir, or `--database postgres`: a new database on
 * 127.0.0.1:5432), registers users, signs their clients in, then drives logins, refreshes,
 * /auth/me, /auth/sessions and logouts at fixed rates (an open model: see lib/soak-load.ts) while
 * sampling the server every 10 s. Prints a line per sample and a table at the end, writes
 * bench/results/soak-latest.json and soak-latest.md. Exit code 1 on any unexpected status (every
 * 5xx), a request without an answer, or a server that stopped. See docs/benchmarks.md, "Soak".
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildWorkspaces } from './lib/build.js'
import { BENCH_DIR, cpuSeconds, killAllChildren, rssMb } from './lib/children.js'
import { currentLoad, describeMachine } from './lib/machine.js'
import { type BenchDatabase, createDatabase, dropCreatedDatabases, postgresVersion } from './lib/postgres.js'
import { unlabelledSamples } from './lib/prometheus-text.js'
import { type KindTable, type SoakLoad, signInClients, soakLoad } from './lib/soak-load.js'
import { parseSoakOptions, SOAK_USAGE, type SoakOptions } from './lib/soak-options.js'
import {
  markdownReport,
  type SoakReport,
  type SoakSample,
  sampleLine,
  summarizeSeries,
  summarizeTable,
  textReport,
  unexpectedStatuses,
} from './lib/soak-report.js'
import { sleep } from './lib/stats.js'
import { registerUsers, startTesseraServe, type TesseraServer } from './lib/tessera-serve.js'

// fixed test values: the soak's server is thrown away with its data at the end
const SOAK_SECRET = 'tessera-soak-test-secret-not-for-production-0123456789'
const METRICS_TOKEN = 'tessera-soak-metrics-token-0123456789'
// logins before the load starts, at once (the server hashes TESSERA_HASH_CONCURRENCY at a time)
const SIGN_IN_CONCURRENCY = 4
// set-up (PGlite's initdb, users, sign-ins) and the drain after the load, beyond --duration
const WATCHDOG_SLACK_MS = 10 * 60_000
const MB = 1024 * 1024

const log = (message: string) => process.stderr.write(`${message}\n`)

let options: SoakOptions
try {
  options = parseSoakOptions(process.argv.slice(2))
} catch (error) {
  log(`${error instanceof Error ? error.message : String(error)}\n\nUsage: ${SOAK_USAGE}`)
  process.exit(2)
}

const tmpDir = await mkdtemp(join(tmpdir(), 'tessera-soak-'))
let server: TesseraServer | undefined
let database: BenchDatabase | undefined
let load: SoakLoad | undefined
let cleaned: Promise<void> | undefined
const cleanup = () => {
  cleaned ??= (async () => {
    load?.stop()
    load?.close()
    await server?.child.stop(5000)
    killAllChildren()
    await database
      ?.drop()
      .catch((error: unknown) => log(`could not drop ${database?.name}: ${String(error)}`))
    await dropCreatedDatabases()
    await rm(tmpDir, { recursive: true, force: true })
  })()
  return cleaned
}
// the exit code of an interrupted run; it writes no results (the server child gets the terminal's
// Ctrl-C too and shuts down, so what follows would not be the soak's figures)
let aborted: number | undefined
const abort = (why: string, code: number) => {
  if (aborted !== undefined) return
  aborted = code
  log(`\n${why}: stopping the server, removing its data; no results written`)
  cleanup().finally(() => process.exit(code))
}
process.once('SIGINT', () => abort('interrupted', 130))
process.once('SIGTERM', () => abort('terminated', 143))
const watchdog = setTimeout(
  () => abort('the soak took too long', 1),
  options.duration * 1000 + WATCHDOG_SLACK_MS,
)
watchdog.unref()

try {
  process.exitCode = await soak(options)
} catch (error) {
  // after an interrupt, the failure is the server or database going away under the set-up
  if (aborted === undefined) {
    log(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    if (server) log(`server output (last lines):\n${server.child.output()}`)
  }
  process.exitCode = 1
}
clearTimeout(watchdog)
await cleanup()
process.exit(aborted ?? process.exitCode)

async function soak(options: SoakOptions): Promise<number> {
  if (options.build) {
    log('building @tessera/server (tessera serve runs from dist/)')
    if (!(await buildWorkspaces(['@tessera/server'], log))) {
      return 1
    }
  }
  const machine = describeMachine(await postgresVersion())

  let databaseEnv: Record<string, string>
  if (options.database === 'postgres') {
    database = await createDatabase('soak')
    databaseEnv = { DATABASE_URL: database.url }
    log(`database ${database.name} on 127.0.0.1:5432`)
  } else {
    databaseEnv = { TESSERA_DATA_DIR: join(tmpDir, 'data') }
    log(`embedded PGlite in ${join(tmpDir, 'data')}`)
  }
  server = await startTesseraServe(
    {
      ...databaseEnv,
      TESSERA_SECRET: SOAK_SECRET,
      TESSERA_METRICS_TOKEN: METRICS_TOKEN,
      TESSERA_RATE_LIMIT: 'off',
      TESSERA_WORKERS: '1',
    },
    180_000,
  )
  const { url, child } = server
  const port = Number(new URL(url).port)
  log(`tessera serve (pid ${child.pid}) ready at ${url} in ${(server.startupMs / 1000).toFixed(1)} s`)
  // CPU is counted per window between samples; the first (t = 0) covers registering and signing in
  let previous = {
    at: performance.now(),
    serverCpu: await cpuSeconds(child.pid),
    generator: process.cpuUsage(),
  }

  const emails = await registerUsers(url, options.users, 'soak')
  const sessions = await signInClients(port, emails, options.clients, SIGN_IN_CONCURRENCY, options.timeoutMs)
  log(`${emails.length} users registered, ${sessions.length} clients signed in`)
  const running = soakLoad({ ...options, port, emails, sessions })
  load = running

  const problems: string[] = []
  let scrapeFailures = 0
  let lastScrapeError = ''
  const scrape = async (): Promise<Map<string, number> | undefined> => {
    try {
      const response = await fetch(`${url}/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
        signal: AbortSignal.timeout(5000),
      })
      const text = await response.text()
      if (response.status !== 200)
        throw new Error(`/metrics answered ${response.status}: ${text.slice(0, 200)}`)
      return unlabelledSamples(text)
    } catch (error) {
      scrapeFailures++
      lastScrapeError = error instanceof Error ? error.message : String(error)
      return undefined
    }
  }

  let loadStart = performance.now()
  const sample = async (window: KindTable): Promise<SoakSample> => {
    const now = performance.now()
    const [metrics, rss, serverCpu] = await Promise.all([
      scrape(),
      rssMb(child.pid).catch(() => null),
      cpuSeconds(child.pid).catch(() => null),
    ])
    const measured = performance.now()
    const generator = process.cpuUsage(previous.generator)
    const seconds = (measured - previous.at) / 1000
    const metric = (name: string, scale: number): number | null => {
      const value = metrics?.get(name)
      return value === undefined ? null : Math.round((value / scale) * 100) / 100
    }
    const result: SoakSample = {
      t: Math.round(((now - loadStart) / 1000) * 10) / 10,
      at: new Date().toISOString(),
      rssMb: rss === null ? null : Math.round(rss * 10) / 10,
      heapUsedMb: metric('nodejs_heap_size_used_bytes', MB),
      heapTotalMb: metric('nodejs_heap_size_total_bytes', MB),
      externalMb: metric('nodejs_external_memory_bytes', MB),
      lagP99Ms: metric('nodejs_eventloop_lag_p99_seconds', 0.001),
      lagMeanMs: metric('nodejs_eventloop_lag_mean_seconds', 0.001),
      lagMaxMs: metric('nodejs_eventloop_lag_max_seconds', 0.001),
      activeSessions: metric('tessera_active_sessions', 1),
      serverCpuPercent:
        serverCpu === null ? null : Math.round(((serverCpu - previous.serverCpu) / seconds) * 1000) / 10,
      generatorCpuPercent: Math.round(((generator.user + generator.system) / 1e6 / seconds) * 1000) / 10,
      loadAverage: loadavg()[0] ?? 0,
      inFlight: running.inFlight,
      openConnections: running.connections.open,
      signedInClients: running.signedIn,
      kinds: summarizeTable(window),
    }
    previous = { at: measured, serverCpu: serverCpu ?? previous.serverCpu, generator: process.cpuUsage() }
    return result
  }

  const samples: SoakSample[] = []
  // t = 0: the server idle with its users and sessions in place (its lag covers start-up too)
  loadStart = performance.now()
  samples.push(await sample(running.takeWindow()))
  log(sampleLine(samples[0] as SoakSample))

  const rates = options.rates
  log(
    `load for ${options.duration} s: login ${rates.login}/s (+ ${rates.logout}/s after logouts), refresh ${rates.refresh}/s, ` +
      `me ${rates.me}/s, sessions ${rates.sessions}/s, logout ${rates.logout}/s; a sample every ${options.sampleEvery} s ` +
      '(done/sent and p50/p99 ms per kind in the window)',
  )
  let serverExited = false
  child.process.once('exit', (code, signal) => {
    if (cleaned) return
    serverExited = true
    problems.push(
      `tessera serve exited during the soak (${signal ?? `code ${code}`}` +
        // its own SIGTERM/SIGINT handler drains and exits 0: someone signalled it
        `${code === 0 ? ': a graceful shutdown, so it was sent SIGTERM or SIGINT' : ''})`,
    )
    running.stop()
  })

  loadStart = performance.now()
  const loadDone = running.run(options.duration)
  let finished = false
  void loadDone.finally(() => {
    finished = true
  })
  for (let k = 1; k * options.sampleEvery < options.duration; k++) {
    await sleep(Math.max(0, loadStart + k * options.sampleEvery * 1000 - performance.now()))
    if (finished || serverExited || aborted !== undefined) break
    const taken = await sample(running.takeWindow())
    samples.push(taken)
    log(sampleLine(taken))
  }
  await loadDone
  if (aborted !== undefined) return aborted
  const loadSeconds = (performance.now() - loadStart) / 1000
  if (!serverExited) {
    const last = await sample(running.takeWindow())
    samples.push(last)
    log(sampleLine(last))
  }
  if (scrapeFailures) problems.push(`${scrapeFailures} scrapes of /metrics failed (last: ${lastScrapeError})`)
  machine.loadAverage.end = currentLoad()

  const totals = summarizeTable(running.totals)
  const report: SoakReport = {
    generatedAt: new Date().toISOString(),
    machine,
    options,
    loadSeconds: Math.round(loadSeconds * 10) / 10,
    series: summarizeSeries(samples, options.warmup),
    totals,
    unexpected: unexpectedStatuses(totals),
    firstUnexpected: running.unexpected,
    problems,
    samples,
  }
  const resultsDir = join(BENCH_DIR, 'results')
  await mkdir(resultsDir, { recursive: true })
  const jsonFile = join(resultsDir, 'soak-latest.json')
  await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`)
  await writeFile(join(resultsDir, 'soak-latest.md'), markdownReport(report))
  process.stdout.write(`\n${textReport(report)}\n\nresults: ${jsonFile} (and soak-latest.md beside it)\n`)
  const failed = problems.length > 0 || Object.keys(report.unexpected).length > 0
  if (failed) log(`\nserver output (last lines):\n${child.output()}`)
  return failed ? 1 : 0
}
