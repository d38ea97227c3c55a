/**
 * The revocation feed's cost on the protected route (issue 17): the same resource server with
 * @tessera/middleware's `revocations` option on and off, measured in one run.
 *
 *   npm run bench:revocations [-- --no-build]
 *   BENCH_REVOKED_SESSIONS=3000 BENCH_REVOCATIONS_ROUNDS=9 BENCH_REVOCATIONS_SLICE=0.6
 *   BENCH_REVOCATIONS_CPU_ROUNDS=12 BENCH_REVOCATIONS_CPU_SECONDS=0.25 (the defaults)
 *
 * A real Tessera server (in memory, servers/revoking-issuer.ts) logs out BENCH_REVOKED_SESSIONS
 * sessions, so its feed serves that many revocations in force. Then:
 *
 * - HTTP: Fastify and Express + the middleware (servers/*-feed.ts), each started three times:
 *   feed off, feed on (caught up with every revocation before it reports ready) and a second
 *   feed-off twin, at 50 connections with one token and with 10,000 distinct valid tokens. They
 *   take turns slice by slice, in rotating order; each round gives one ratio on/off of req/s and
 *   of server CPU per request, and one twin/off: what two identical servers differ by here.
 * - CPU: verifier.verify() in this process, one token after another, feed off against feed on
 *   (connected to the same server), as bench/verify.ts measures: verifications per CPU-second,
 *   each feed-on run between two feed-off runs and compared to their mean.
 *
 * Tables show the median ratio over the rounds and its quartiles, and what the feed adds per
 * verify (CPU) as a share of the route's server CPU per request (HTTP, feed off). Loads only
 * 127.0.0.1; two and a half minutes on a quiet machine, four under heavy load; every child is
 * killed on exit.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createVerifier, type Verifier } from '@tessera/middleware'
import { buildWorkspaces } from './lib/build.js'
import { type Child, cpuSeconds, killAllChildren, startServerScript } from './lib/children.js'
import { feedCaughtUp } from './lib/feed-options.js'
import { expectOk, type LoadResult, load } from './lib/load.js'
import { currentLoad, describeMachine } from './lib/machine.js'
import { freePort } from './lib/ports.js'
import { median, quantile } from './lib/stats.js'
import { TESSERA_ENV } from './lib/tessera-serve.js'
import type { IssuedForBench } from './servers/revoking-issuer.js'

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`)
  return value
}
const REVOKED = env('BENCH_REVOKED_SESSIONS', 3000)
const ROUNDS = env('BENCH_REVOCATIONS_ROUNDS', 9)
const SLICE = env('BENCH_REVOCATIONS_SLICE', 0.6)
const CPU_ROUNDS = env('BENCH_REVOCATIONS_CPU_ROUNDS', 12)
const CPU_SECONDS = env('BENCH_REVOCATIONS_CPU_SECONDS', 0.25)
const TOKENS = 10_000
const CONNECTIONS = 50
const WARMUP = 1
const PATH = '/api/profile'
// a hung step cannot keep servers around
const WATCHDOG_MS = 8 * 60_000

const log = (message: string) => process.stderr.write(`${message}\n`)
const { values: flags } = parseArgs({ options: { 'no-build': { type: 'boolean', default: false } } })

const tmpDir = await mkdtemp(join(tmpdir(), 'tessera-bench-revocations-'))
const children: Child[] = []
const verifiers: Verifier[] = []
const cleanup = async () => {
  await Promise.all(verifiers.map((verifier) => verifier.close()))
  await Promise.all(children.map((child) => child.stop(2000)))
  killAllChildren()
  await rm(tmpDir, { recursive: true, force: true })
}
const abort = (why: string, code: number) => {
  log(`\n${why}: stopping servers`)
  cleanup().finally(() => process.exit(code))
}
process.once('SIGINT', () => abort('interrupted', 130))
process.once('SIGTERM', () => abort('terminated', 143))
setTimeout(() => abort('the run took too long', 1), WATCHDOG_MS).unref()

const started = performance.now()
const machine = describeMachine(undefined)
if (!flags['no-build']) {
  log('building @tessera/middleware (the resource servers run it from dist/)')
  if (!(await buildWorkspaces(['@tessera/middleware'], log))) {
    await cleanup()
    process.exit(1)
  }
}

// ---- the issuer, with REVOKED sessions logged out
log(`starting a Tessera server (in memory); logging out ${REVOKED} sessions, minting ${TOKENS} tokens`)
const issuerPort = await freePort()
const issuerUrl = `http://127.0.0.1:${issuerPort}`
const issuedFile = join(tmpDir, 'issued.json')
const seedStarted = performance.now()
const issuer = await startServerScript(
  'servers/revoking-issuer.ts',
  {
    env: {
      ...TESSERA_ENV,
      PORT: String(issuerPort),
      TESSERA_PUBLIC_URL: issuerUrl,
      BENCH_TOKEN_COUNT: String(TOKENS),
      BENCH_REVOKED_SESSIONS: String(REVOKED),
      BENCH_ISSUER_FILE: issuedFile,
    },
  },
  180_000,
)
children.push(issuer.child)
const issued = JSON.parse(await readFile(issuedFile, 'utf8')) as IssuedForBench
log(
  `  issuer up in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s (sessions opened in ${issued.seconds.open.toFixed(1)} s, logged out in ${issued.seconds.logout.toFixed(1)} s, tokens minted in ${issued.seconds.mint.toFixed(1)} s)`,
)
const feedEnv = {
  BENCH_FEED_CLIENT_ID: issued.clientId,
  BENCH_FEED_CLIENT_SECRET: issued.clientSecret,
  BENCH_FEED_ENTRIES: String(issued.revokedSessions),
}

// ---- the resource servers: each stack twice, feed off and feed on
// 'twin': a second feed-off server, the noise floor of comparing two servers
type Feed = 'off' | 'on' | 'twin'
const FEEDS: Feed[] = ['off', 'on', 'twin']
const STACKS = [
  { key: 'fastify', label: 'Fastify + @tessera/middleware', script: 'servers/fastify-middleware-feed.ts' },
  { key: 'express', label: 'Express + @tessera/middleware', script: 'servers/express-middleware-feed.ts' },
] as const
type Shape = 'one-token' | 'pool'
const SHAPES: Shape[] = ['one-token', 'pool']
const SHAPE_LABEL: Record<Shape, string> = {
  'one-token': `one token, ${CONNECTIONS} conn`,
  pool: `${TOKENS.toLocaleString('en')} tokens, ${CONNECTIONS} conn`,
}

log('starting the resource servers, feed off, on and off again (feed on: once it holds every revocation)')
const servers = await Promise.all(
  STACKS.flatMap((stack) =>
    FEEDS.map(async (feed) => {
      const server = await startServerScript(stack.script, {
        env: { BENCH_ISSUER: issuerUrl, ...(feed === 'on' ? feedEnv : {}) },
      })
      children.push(server.child)
      return { stack: stack.key, feed, url: server.url, pid: server.child.pid }
    }),
  ),
)
const serverOf = (stack: string, feed: Feed) => {
  const found = servers.find((server) => server.stack === stack && server.feed === feed)
  if (!found) throw new Error(`no ${stack} server with the feed ${feed}`)
  return found
}

const loadOf = (url: string, shape: Shape, duration: number): Promise<LoadResult> => {
  if (shape === 'one-token') {
    return load({
      url: `${url}${PATH}`,
      connections: CONNECTIONS,
      duration,
      headers: { authorization: `Bearer ${issued.tokens[0]}` },
    })
  }
  let next = 0
  return load({
    url: `${url}${PATH}`,
    connections: CONNECTIONS,
    duration,
    setupRequest: (request) => ({
      ...request,
      headers: { authorization: `Bearer ${issued.tokens[next++ % issued.tokens.length]}` },
    }),
  })
}

// a server that refused every token, or followed no feed, would make a meaningless comparison
for (const server of servers) {
  for (const token of [issued.tokens[0], issued.tokens[TOKENS - 1]]) {
    await expectOk(`${server.url}${PATH}`, { headers: { authorization: `Bearer ${token}` } })
  }
  for (const token of issued.revokedTokens) {
    const response = await fetch(`${server.url}${PATH}`, { headers: { authorization: `Bearer ${token}` } })
    await response.arrayBuffer()
    const expected = server.feed === 'on' ? 401 : 200
    if (response.status !== expected) {
      throw new Error(
        `${server.stack}, feed ${server.feed}: a logged-out session's token got ${response.status}`,
      )
    }
  }
  for (const shape of SHAPES) await loadOf(server.url, shape, WARMUP)
}

// ---- HTTP rounds
interface Side {
  okPerSecond: number
  cpuPerRequest: number
  p99: number
  failed: number
}
const http = new Map<string, Record<Feed, Side[]>>()
log(`HTTP: ${ROUNDS} rounds of ${SLICE} s per server and shape, feed off, on and off twin in turn`)
for (let round = 0; round < ROUNDS; round++) {
  for (const stack of STACKS) {
    for (const shape of SHAPES) {
      // rotating order: a slope in the machine's speed favours no side
      const order = FEEDS.map((_, i) => FEEDS[(i + round) % FEEDS.length] as Feed)
      const key = `${stack.key}.${shape}`
      const sides = http.get(key) ?? { off: [], on: [], twin: [] }
      for (const feed of order) {
        const { url, pid } = serverOf(stack.key, feed)
        const cpuBefore = await cpuSeconds(pid)
        const result = await loadOf(url, shape, SLICE)
        const cpu = (await cpuSeconds(pid)) - cpuBefore
        sides[feed].push({
          okPerSecond: result.okPerSecond,
          cpuPerRequest: (cpu / Math.max(1, result.answered)) * 1e6,
          p99: result.p99,
          failed: result.failed,
        })
      }
      http.set(key, sides)
    }
  }
  process.stderr.write(`  round ${round + 1}/${ROUNDS}\r`)
}
log('')

// ---- CPU: verifier.verify() in this process, feed off against feed on
log('CPU: verifier.verify() in this process, feed off and on')
const verifierOf = (feed: 'off' | 'on', cacheSize?: number): Verifier => {
  const verifier = createVerifier({
    issuer: issuerUrl,
    audience: 'tessera',
    ...(cacheSize === undefined ? {} : { cacheSize }),
    ...(feed === 'on'
      ? { revocations: { clientId: issued.clientId, clientSecret: issued.clientSecret } }
      : {}),
  })
  verifiers.push(verifier)
  return verifier
}
const token = (i: number): string => issued.tokens[i % TOKENS] ?? ''
const cpuSubjects = [
  { name: 'one repeated token (cache hit)', cacheSize: undefined, pick: () => token(0) },
  { name: `${TOKENS.toLocaleString('en')} tokens, default cache`, cacheSize: undefined, pick: token },
  { name: `${TOKENS.toLocaleString('en')} tokens, cacheSize 0`, cacheSize: 0, pick: token },
].map((subject) => ({
  ...subject,
  off: verifierOf('off', subject.cacheSize),
  on: verifierOf('on', subject.cacheSize),
}))
for (const subject of cpuSubjects) {
  await feedCaughtUp(subject.on, { BENCH_FEED_ENTRIES: String(issued.revokedSessions) })
  const revoked = await subject.on.verify(issued.revokedTokens[0] ?? '').then(
    () => 'accepted',
    (error: { code?: string }) => error.code,
  )
  if (revoked !== 'TOKEN_REVOKED')
    throw new Error(`the feed-on verifier answered ${revoked} for a revoked token`)
  // warm-up, and the default caches filled with the whole pool
  for (const verifier of [subject.off, subject.on]) {
    for (let i = 0; i < TOKENS; i++) await verifier.verify(subject.pick(i))
  }
}

/** Verifications per second of CPU time (this process, all threads), over `CPU_SECONDS`. */
async function perCpuSecond(verifier: Verifier, pick: (i: number) => string): Promise<number> {
  let done = 0
  const cpu = process.cpuUsage()
  const end = performance.now() + CPU_SECONDS * 1000
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) await verifier.verify(pick(done++))
  }
  const used = process.cpuUsage(cpu)
  return done / ((used.user + used.system) / 1e6)
}
const cpuRuns = new Map<string, { off: number[]; on: number[]; ratio: number[] }>(
  cpuSubjects.map((subject) => [subject.name, { off: [], on: [], ratio: [] }]),
)
for (let round = 0; round < CPU_ROUNDS; round++) {
  for (const subject of cpuSubjects) {
    const runs = cpuRuns.get(subject.name)
    if (!runs) continue
    const before = await perCpuSecond(subject.off, subject.pick)
    const on = await perCpuSecond(subject.on, subject.pick)
    const after = await perCpuSecond(subject.off, subject.pick)
    runs.off.push(before, after)
    runs.on.push(on)
    runs.ratio.push(on / ((before + after) / 2))
  }
  process.stderr.write(`  round ${round + 1}/${CPU_ROUNDS}\r`)
}
log('')
const feedEntries = cpuSubjects[0]?.on.revocationFeed()?.entries

// ---- report, in Markdown (docs/benchmarks.md)
const ratioCell = (ratios: readonly number[]): string => {
  const sorted = [...ratios].sort((a, b) => a - b)
  return `${median(sorted).toFixed(3)} (${quantile(sorted, 0.25).toFixed(3)}–${quantile(sorted, 0.75).toFixed(3)})`
}
const ratiosOf = (sides: Record<Feed, Side[]>, feed: Feed, of: (side: Side) => number): number[] =>
  sides[feed].map((side, i) => of(side) / of(sides.off[i] ?? side))
const whole = (value: number) => Math.round(value).toLocaleString('en')
const lines: string[] = [
  '| subject | figure | feed off (median) | feed on (median) | req/s on / off | CPU/req on / off | twin off / off: req/s, CPU/req |',
  '| --- | --- | --- | --- | --- | --- | --- |',
]
/** Server CPU per request, feed off, µs: what the feed's added verify cost is a share of. */
const routeCpu = new Map<string, number>()
for (const stack of STACKS) {
  for (const shape of SHAPES) {
    const sides = http.get(`${stack.key}.${shape}`)
    if (!sides) continue
    const failed = FEEDS.flatMap((feed) => sides[feed]).reduce((sum, side) => sum + side.failed, 0)
    const describe = (side: Side[]) =>
      `${whole(median(side.map((s) => s.okPerSecond)))} req/s, ${median(side.map((s) => s.cpuPerRequest)).toFixed(0)} µs CPU/req`
    const rps = (side: Side) => side.okPerSecond
    const cpu = (side: Side) => side.cpuPerRequest
    routeCpu.set(`${stack.key}.${shape}`, median([...sides.off, ...sides.twin].map(cpu)))
    lines.push(
      `| ${stack.label} | ${SHAPE_LABEL[shape]}${failed ? `, ${failed} failed!` : ''} | ${describe(sides.off)} | ${describe(sides.on)} | ${ratioCell(ratiosOf(sides, 'on', rps))} | ${ratioCell(ratiosOf(sides, 'on', cpu))} | ${median(ratiosOf(sides, 'twin', rps)).toFixed(3)}, ${median(ratiosOf(sides, 'twin', cpu)).toFixed(3)} |`,
    )
  }
}
const cpuLines: string[] = [
  '| verifier.verify(), 1 thread | feed off (median) | feed on (median) | on / off, median (quartiles) | added per verify | of Fastify route CPU/req | of Express route CPU/req |',
  '| --- | --- | --- | --- | --- | --- | --- |',
]
for (const [i, subject] of cpuSubjects.entries()) {
  const runs = cpuRuns.get(subject.name)
  if (!runs) continue
  // the feed's cost per verify, µs, from the medians: 1/on - 1/off seconds per verification
  const added = (1 / median(runs.on) - 1 / median(runs.off)) * 1e6
  // the HTTP shape this verify path serves: a repeated token, or the pool (hits with the cache);
  // none for cacheSize 0, where the full verify is most of a request and the ratio says it all
  const shape: Shape | undefined = ['one-token' as const, 'pool' as const][i]
  const share = (stack: string) => {
    const route = shape && routeCpu.get(`${stack}.${shape}`)
    return route ? `${((added / route) * 100).toFixed(2)} % (${shape === 'pool' ? 'pool' : 'one token'})` : ''
  }
  cpuLines.push(
    `| ${subject.name} | ${whole(median(runs.off))} verify/CPU-s | ${whole(median(runs.on))} verify/CPU-s | ${ratioCell(runs.ratio)} | ${added.toFixed(2)} µs | ${share('fastify')} | ${share('express')} |`,
  )
}

const seconds = (performance.now() - started) / 1000
process.stdout.write(
  [
    '',
    `revocation feed on vs off: ${issued.revokedSessions} sessions logged out (feed entries held: ${feedEntries}), ` +
      `HTTP ${ROUNDS} rounds of ${SLICE} s, CPU ${CPU_ROUNDS} rounds of ${CPU_SECONDS} s`,
    `${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GB, Node ${machine.node}, ` +
      `load average ${machine.loadAverage.start.toFixed(2)} at start, ${currentLoad().toFixed(2)} at end` +
      `${machine.commit ? `, commit ${machine.commit}` : ''}, ${seconds.toFixed(0)} s`,
    '',
    ...lines,
    '',
    ...cpuLines,
    '',
  ].join('\n'),
)
await cleanup()
process.exit(0)
