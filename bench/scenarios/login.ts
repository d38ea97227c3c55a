/**
 * Scenario 2, login under load: logins at 8 connections against `tessera serve` (PostgreSQL)
 * while GET /healthz runs at 10 connections beside it, two autocannon instances at once. Baselines:
 * raw @node-rs/argon2 verifications (server parameters, as many at once as the server's hashing
 * queue lets run, same libuv pool) and
 * /healthz with no logins. The tutorial stack (Express + bcryptjs cost 12) under the same flood.
 */
import { defaultHashConcurrency } from '../../packages/server/src/config.js'
import { type Child, cpuSeconds, startServerScript } from '../lib/children.js'
import { type BenchContext, eachRun } from '../lib/context.js'
import { type Figure, figure } from '../lib/figures.js'
import { describeLoads, type LoadResult, load, loadFlags } from '../lib/load.js'
import { createDatabase, postgresCpuSeconds } from '../lib/postgres.js'
import { startProbe } from '../lib/probe.js'
import { median } from '../lib/stats.js'
import {
  BENCH_PASSWORD,
  expectLogin,
  loginLoad,
  registerUsers,
  startTesseraServe,
} from '../lib/tessera-serve.js'

interface Flood {
  logins: LoadResult
  health: LoadResult
}

/** How many hashes `tessera serve` runs at once here, as its config reads the environment. */
const hashConcurrency = Number(process.env.TESSERA_HASH_CONCURRENCY) || defaultHashConcurrency(process.env)

export async function login(context: BenchContext): Promise<Figure[]> {
  const params = context.params.login
  const children: Child[] = []
  const database = await createDatabase('login')
  try {
    // the tutorial stack is another stack to compare with: full runs only
    const peers = !context.quick
    context.log(
      `starting tessera serve (PostgreSQL)${peers ? ' and the tutorial stack (Express + bcryptjs)' : ''}`,
    )
    const [tessera, tutorial] = await Promise.all([
      startTesseraServe({ DATABASE_URL: database.url }),
      peers
        ? startServerScript('servers/tutorial-login.ts', {
            env: {
              BENCH_USERS: String(params.users),
              BENCH_PASSWORD,
              BENCH_BCRYPT_COST: String(params.bcryptCost),
            },
          })
        : undefined,
    ])
    children.push(tessera.child, ...(tutorial ? [tutorial.child] : []))
    const emails = await registerUsers(tessera.url, params.users)
    const argon2 = await startProbe('probes/argon2-verify.ts', {
      // the server's own bound on hashes at once (TESSERA_HASH_CONCURRENCY, default cores + 1)
      env: { BENCH_CONCURRENCY: String(hashConcurrency) },
    })
    children.push(argon2.child)

    const stacks = [
      { key: 'tessera', url: tessera.url, loginPath: '/auth/login' },
      ...(tutorial ? [{ key: 'tutorial', url: tutorial.url, loginPath: '/login' }] : []),
    ]
    for (const stack of stacks) await expectLogin(`${stack.url}${stack.loginPath}`, emails)

    const health = (url: string, duration: number) =>
      load({ url: `${url}/healthz`, connections: params.healthConnections, duration })
    const logins = (url: string, loginPath: string) =>
      loginLoad(`${url}${loginPath}`, emails, {
        connections: params.loginConnections,
        duration: params.duration,
      })
    const flood = async (url: string, loginPath: string): Promise<Flood> => {
      const [loginsDuring, healthDuring] = await Promise.all([
        logins(url, loginPath),
        health(url, params.duration),
      ])
      return { logins: loginsDuring, health: healthDuring }
    }

    const quiet = new Map<string, LoadResult[]>()
    const floods = new Map<string, Flood[]>()
    const argon2Runs: number[] = []
    // Tessera's logins with nothing beside them: what login costs beyond its hash
    const alone: LoadResult[] = []
    // CPU per login alone, milliseconds: the server process (argon2 included), PostgreSQL
    const aloneCpu: { server: number; postgres: number }[] = []
    await eachRun(context, async () => {
      context.log('  tessera: logins alone')
      const [serverBefore, postgresBefore] = [await cpuSeconds(tessera.child.pid), await postgresCpuSeconds()]
      const result = await logins(tessera.url, '/auth/login')
      const [serverAfter, postgresAfter] = [await cpuSeconds(tessera.child.pid), await postgresCpuSeconds()]
      const perLogin = (seconds: number) => (seconds / Math.max(1, result.answered)) * 1000
      alone.push(result)
      aloneCpu.push({
        server: perLogin(serverAfter - serverBefore),
        postgres: perLogin((postgresAfter ?? Number.NaN) - (postgresBefore ?? Number.NaN)),
      })
      for (const stack of stacks) {
        context.log(`  ${stack.key}: /healthz alone, then logins + /healthz`)
        quiet.set(stack.key, [...(quiet.get(stack.key) ?? []), await health(stack.url, params.quietDuration)])
        floods.set(stack.key, [...(floods.get(stack.key) ?? []), await flood(stack.url, stack.loginPath)])
      }
      context.log('  raw argon2 verify')
      argon2Runs.push(await argon2.run(params.argon2Duration))
    })

    const floodsOf = (key: string) => floods.get(key) ?? []
    const loginsPerSecond = (key: string) => floodsOf(key).map((f) => f.logins.okPerSecond)
    const healthP99 = (key: string) => floodsOf(key).map((f) => f.health.p99)
    const quietP99 = (key: string) => (quiet.get(key) ?? []).map((r) => r.p99)
    const loginDetail = (key: string) =>
      describeLoads(
        floodsOf(key).map((f) => f.logins),
        'login p99',
      )
    const healthDetail = (key: string, alone: boolean) => {
      const during = floodsOf(key).map((f) => f.health)
      return [
        ...(alone ? [`alone ${describeLoads(quiet.get(key) ?? [])}`] : []),
        `${median(during.map((r) => r.okPerSecond)).toFixed(0)} /healthz per s meanwhile`,
        ...loadFlags(during),
        `logins: ${describeLoads(floodsOf(key).map((f) => f.logins))}`,
      ].join(', ')
    }
    const conns = `${params.loginConnections} conn + /healthz ${params.healthConnections} conn`
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4)

    const argon2Baseline = {
      label: `raw argon2id verify (m=19456,t=2,p=1), ${hashConcurrency} at once as the server, ${threads} libuv threads`,
      unit: 'verify/s',
      runs: argon2Runs,
    }
    // the tutorial stack against Tessera's figures above
    const tutorialFigures = (): Figure[] => {
      return [
        figure({
          id: 'login.tutorial.logins',
          scenario: 'login',
          subject: `Express + bcryptjs (cost ${params.bcryptCost}, tutorial)`,
          metric: `logins/s, ${conns}`,
          unit: 'logins/s',
          runs: loginsPerSecond('tutorial'),
          detail: loginDetail('tutorial'),
          baseline: { label: 'tessera serve logins/s', unit: 'logins/s', runs: loginsPerSecond('tessera') },
        }),
        figure({
          id: 'login.tutorial.healthz-p99',
          scenario: 'login',
          subject: `Express + bcryptjs (cost ${params.bcryptCost}, tutorial)`,
          metric: `/healthz p99 during the login flood`,
          unit: 'ms',
          runs: healthP99('tutorial'),
          detail: healthDetail('tutorial', true),
          baseline: {
            label: 'tessera serve /healthz p99 in its flood',
            unit: 'ms',
            runs: healthP99('tessera'),
          },
        }),
      ]
    }
    const figures: Figure[] = [
      figure({
        id: 'login.tessera.logins-alone',
        scenario: 'login',
        subject: 'tessera serve (PostgreSQL)',
        metric: `logins/s, ${params.loginConnections} conn, nothing else`,
        unit: 'logins/s',
        runs: alone.map((r) => r.okPerSecond),
        detail: `${describeLoads(alone, 'login p99')}; CPU/login: server ${median(aloneCpu.map((c) => c.server)).toFixed(1)} ms, PostgreSQL ${median(aloneCpu.map((c) => c.postgres)).toFixed(2)} ms`,
        baseline: argon2Baseline,
        goal: { kind: 'ratio-at-least', threshold: 0.95 },
      }),
      figure({
        id: 'login.tessera.logins',
        scenario: 'login',
        subject: 'tessera serve (PostgreSQL)',
        metric: `logins/s, ${conns}`,
        unit: 'logins/s',
        runs: loginsPerSecond('tessera'),
        detail: loginDetail('tessera'),
        baseline: argon2Baseline,
        goal: { kind: 'ratio-at-least', threshold: 0.8 },
      }),
      figure({
        id: 'login.tessera.healthz-p99',
        scenario: 'login',
        subject: 'tessera serve (PostgreSQL)',
        metric: `/healthz p99 during the login flood`,
        unit: 'ms',
        runs: healthP99('tessera'),
        detail: healthDetail('tessera', false),
        baseline: {
          label: '/healthz p99 without logins (same server)',
          unit: 'ms',
          runs: quietP99('tessera'),
        },
        goal: { kind: 'value-at-most', threshold: 15 },
      }),
      ...(peers ? tutorialFigures() : []),
    ]
    return figures
  } finally {
    await Promise.all(children.map((child) => child.stop()))
    await database.drop()
  }
}
