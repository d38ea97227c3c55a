/**
 * Tessera's benchmark suite: `npm run bench` (full, median of 3 runs, about 13 minutes) or
 * `npm run bench -- --quick` (one run each, short loads: a smoke test). Starts every server itself on
 * 127.0.0.1, drives it with bounded loads, prints one table and writes bench/results/latest.json.
 * See docs/benchmarks.md for what each figure means.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { renderChart } from './chart.js'
import { buildWorkspaces } from './lib/build.js'
import { BENCH_DIR, killAllChildren, ownAndChildrenCpuSeconds } from './lib/children.js'
import type { BenchContext } from './lib/context.js'
import type { Figure, ScenarioName } from './lib/figures.js'
import { currentLoad, describeMachine } from './lib/machine.js'
import { parseOptions, USAGE } from './lib/options.js'
import { dropCreatedDatabases, postgresCpuSeconds, postgresVersion } from './lib/postgres.js'
import { machineLine, markdownTable, textTable } from './lib/table.js'
import { footprint } from './scenarios/footprint.js'
import { login } from './scenarios/login.js'
import { peer } from './scenarios/peer.js'
import { protectedRoute } from './scenarios/protected-route.js'
import { refresh } from './scenarios/refresh.js'

const SCENARIO_RUNNERS: Record<ScenarioName, (context: BenchContext) => Promise<Figure[]>> = {
  'protected-route': protectedRoute,
  login,
  refresh,
  peer,
  footprint,
}

// the whole run is bounded too: a hung step cannot keep servers and databases around
const WATCHDOG_MS = { quick: 10 * 60_000, full: 25 * 60_000 }

const log = (message: string) => process.stderr.write(`${message}\n`)

let options: ReturnType<typeof parseOptions>
try {
  options = parseOptions(process.argv.slice(2))
} catch (error) {
  log(`${(error as Error).message}\n\nUsage: ${USAGE}`)
  process.exit(2)
}

const tmpDir = await mkdtemp(join(tmpdir(), 'tessera-bench-'))
let cleaned: Promise<void> | undefined
const cleanup = () => {
  cleaned ??= (async () => {
    killAllChildren()
    await dropCreatedDatabases()
    await rm(tmpDir, { recursive: true, force: true })
  })()
  return cleaned
}
const abort = (why: string, code: number) => {
  log(`\n${why}: stopping servers, dropping databases`)
  cleanup().finally(() => process.exit(code))
}
process.once('SIGINT', () => abort('interrupted', 130))
process.once('SIGTERM', () => abort('terminated', 143))
const watchdog = setTimeout(
  () => abort('the run took too long', 1),
  options.quick ? WATCHDOG_MS.quick : WATCHDOG_MS.full,
)
watchdog.unref()

const started = performance.now()
const postgresCpuAtStart = await postgresCpuSeconds()
// wall-clock and CPU seconds of each step (CPU: the harness and its children, which have exited
// by the end of the step), printed at the end: what a run's duration is made of
const phases: { name: string; seconds: number; cpuSeconds: number }[] = []
const secondsSince = (from: number) => (performance.now() - from) / 1000
let cpuMark = await ownAndChildrenCpuSeconds()
const phaseDone = async (name: string, from: number) => {
  const cpuNow = await ownAndChildrenCpuSeconds()
  phases.push({ name, seconds: secondsSince(from), cpuSeconds: cpuNow - cpuMark })
  cpuMark = cpuNow
  log(`   ${secondsSince(from).toFixed(0)} s, CPU ${(phases.at(-1)?.cpuSeconds ?? 0).toFixed(0)} s`)
}
if (options.build) {
  log('building @tessera/server and @tessera/middleware (the CLI and the middleware run from dist/)')
  const buildStarted = performance.now()
  if (!(await buildWorkspaces(['@tessera/server', '@tessera/middleware'], log))) {
    await cleanup()
    process.exit(1)
  }
  await phaseDone('build', buildStarted)
}

const machine = describeMachine(await postgresVersion())
const figures: Figure[] = []
const byId = new Map<string, Figure>()
const failures: { scenario: ScenarioName; error: string }[] = []
const context: BenchContext = {
  params: options.params,
  quick: options.quick,
  tmpDir,
  log,
  figures: byId,
}

for (const scenario of options.scenarios) {
  const scenarioStarted = performance.now()
  log(`== ${scenario}`)
  try {
    for (const result of await SCENARIO_RUNNERS[scenario](context)) {
      figures.push(result)
      byId.set(result.id, result)
    }
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
    failures.push({ scenario, error: text })
    log(`${scenario} failed: ${text}`)
  }
  await phaseDone(scenario, scenarioStarted)
}
machine.loadAverage.end = currentLoad()
const seconds = secondsSince(started)
// every child has exited by now (each scenario stops its own), so their CPU is in the count;
// PostgreSQL's is the machine's, other users of it included
const cpuSeconds = await ownAndChildrenCpuSeconds()
const postgresCpuAtEnd = await postgresCpuSeconds()
const postgresCpu =
  postgresCpuAtStart === undefined || postgresCpuAtEnd === undefined
    ? undefined
    : postgresCpuAtEnd - postgresCpuAtStart

const header = machineLine(machine, options.quick, options.params.runs)
process.stdout.write(`\n${header}\n\n${textTable(figures)}\n`)
for (const failure of failures)
  process.stdout.write(`\n${failure.scenario} FAILED: ${failure.error.split('\n')[0]}\n`)
process.stdout.write(
  `\n${figures.length} figures in ${seconds.toFixed(0)} s (${phases.map((p) => `${p.name} ${p.seconds.toFixed(0)} s (${p.cpuSeconds.toFixed(0)} s CPU)`).join(', ')}); CPU ${cpuSeconds.toFixed(0)} s in the harness and its children${postgresCpu === undefined ? '' : `, ${postgresCpu.toFixed(0)} s in PostgreSQL`}\n`,
)

const resultsDir = join(BENCH_DIR, 'results')
await mkdir(resultsDir, { recursive: true })
const results = {
  generatedAt: new Date().toISOString(),
  quick: options.quick,
  seconds: Math.round(seconds),
  phases: phases.map((phase) => ({
    name: phase.name,
    seconds: Math.round(phase.seconds * 10) / 10,
    cpuSeconds: Math.round(phase.cpuSeconds * 10) / 10,
  })),
  cpuSeconds: {
    harness: Math.round(cpuSeconds),
    postgres: postgresCpu === undefined ? null : Math.round(postgresCpu),
  },
  machine,
  params: options.params,
  figures,
  failures,
}
const file = join(resultsDir, 'latest.json')
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`)
// the same table in Markdown and the chart, for docs/benchmarks.md (npm run bench:chart writes docs/)
await writeFile(
  join(resultsDir, 'latest.md'),
  `${header.split('\n').join('  \n')}\n\n${markdownTable(figures)}\n`,
)
await writeFile(join(resultsDir, 'latest.svg'), renderChart(results))
process.stdout.write(`results: ${file} (and latest.md, latest.svg beside it)\n`)
clearTimeout(watchdog)
await cleanup()
process.exit(failures.length ? 1 : 0)
