/**
 * Scenario 1, the protected route: one tiny JSON route behind each way of checking a token, at
 * 50 connections, with one token repeated and with a pool of 10,000 distinct valid tokens; the
 * baselines are bare Fastify (same route, no check) and the same route checking each token's RS256
 * signature with raw node:crypto and nothing else (the ceiling of a server that checks every token).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Child, cpuSeconds, startServerScript } from '../lib/children.js'
import { type BenchContext, eachRun } from '../lib/context.js'
import { type Figure, figure } from '../lib/figures.js'
import { combineLoads, describeLoads, expectOk, type LoadResult, load, warmUp } from '../lib/load.js'
import { freePort } from '../lib/ports.js'
import { startProbe } from '../lib/probe.js'
import { median } from '../lib/stats.js'
import { TESSERA_ENV } from '../lib/tessera-serve.js'

interface Subject {
  key: string
  label: string
  script: string
  /** Which tokens it accepts. */
  tokens: 'rs256' | 'hs256'
  env?: Record<string, string>
  /** In full runs only: another stack to compare with, or (Express) an adapter no goal is about. */
  fullOnly?: true
  /** The shapes --quick measures it in: those a goal of issue 21 needs. */
  quickShapes: Shape[]
}

const SUBJECTS: Subject[] = [
  {
    key: 'bare-fastify',
    label: 'bare Fastify (no auth)',
    script: 'servers/bare-fastify.ts',
    tokens: 'rs256',
    quickShapes: ['one-token'],
  },
  {
    key: 'fastify-middleware',
    label: 'Fastify + @tessera/middleware',
    script: 'servers/fastify-middleware.ts',
    tokens: 'rs256',
    quickShapes: ['one-token'],
  },
  {
    // every request verified: with the default cache the 10,000-token pool fits and is mostly hits
    key: 'fastify-middleware-uncached',
    label: 'Fastify + @tessera/middleware, cacheSize 0',
    script: 'servers/fastify-middleware.ts',
    tokens: 'rs256',
    env: { BENCH_CACHE_SIZE: '0' },
    quickShapes: ['pool'],
  },
  {
    // the ceiling of checking every token: node:crypto's signature check and nothing else
    key: 'fastify-raw-verify',
    label: 'Fastify + raw node:crypto verify (signature only)',
    script: 'servers/fastify-raw-verify.ts',
    tokens: 'rs256',
    quickShapes: ['pool'],
  },
  {
    key: 'express-middleware',
    label: 'Express + @tessera/middleware',
    script: 'servers/express-middleware.ts',
    tokens: 'rs256',
    fullOnly: true,
    quickShapes: [],
  },
  {
    key: 'express-jsonwebtoken',
    label: 'Express + jsonwebtoken (HS256, tutorial)',
    script: 'servers/express-jsonwebtoken.ts',
    tokens: 'hs256',
    fullOnly: true,
    quickShapes: [],
  },
  {
    key: 'fastify-jose',
    label: 'Fastify + jose remote JWKS',
    script: 'servers/fastify-jose.ts',
    tokens: 'rs256',
    fullOnly: true,
    quickShapes: [],
  },
]

type Shape = 'one-token' | 'pool'
const SHAPES: Shape[] = ['one-token', 'pool']

const HS256_SECRET = 'tutorial-secret-keep-it-safe-and-long-enough-0123456789'
const PATH = '/api/profile'

export async function protectedRoute(context: BenchContext): Promise<Figure[]> {
  const params = context.params.protectedRoute
  const children: Child[] = []
  try {
    context.log(
      `starting the resource servers; minting ${params.tokens} access tokens with a Tessera server (in memory)`,
    )
    const mintStarted = performance.now()
    const issuerPort = await freePort()
    const issuerUrl = `http://127.0.0.1:${issuerPort}`
    const tokensFile = join(context.tmpDir, 'tokens.json')
    // the resource servers start beside the issuer: they fetch its keys on their first request
    const [, ...servers] = await Promise.all([
      startServerScript(
        'servers/issuer.ts',
        {
          env: {
            ...TESSERA_ENV,
            PORT: String(issuerPort),
            TESSERA_PUBLIC_URL: issuerUrl,
            BENCH_TOKEN_COUNT: String(params.tokens),
            BENCH_TOKENS_FILE: tokensFile,
            BENCH_HS256_SECRET: HS256_SECRET,
          },
        },
        180_000,
      ).then((started) => {
        children.push(started.child)
        return started
      }),
      ...SUBJECTS.filter((subject) => !context.quick || !subject.fullOnly).map(async (subject) => {
        const started = await startServerScript(subject.script, {
          env: { BENCH_ISSUER: issuerUrl, BENCH_HS256_SECRET: HS256_SECRET, ...subject.env },
        })
        children.push(started.child)
        return { subject, url: started.url, pid: started.child.pid }
      }),
    ])
    const tokens = JSON.parse(await readFile(tokensFile, 'utf8')) as Record<'rs256' | 'hs256', string[]>
    context.log(`  servers up, tokens minted in ${((performance.now() - mintStarted) / 1000).toFixed(1)} s`)

    const loadOf = (url: string, pool: string[], shape: Shape, duration: number): Promise<LoadResult> => {
      const [first] = pool
      if (!first) throw new Error('no tokens')
      if (shape === 'one-token') {
        return load({
          url: `${url}${PATH}`,
          connections: params.connections,
          duration,
          headers: { authorization: `Bearer ${first}` },
        })
      }
      let next = 0
      return load({
        url: `${url}${PATH}`,
        connections: params.connections,
        duration,
        setupRequest: (request) => ({
          ...request,
          headers: { authorization: `Bearer ${pool[next++ % pool.length]}` },
        }),
      })
    }

    // a refused token would make a fast 401 benchmark: check each server accepts its tokens, which
    // also makes the middleware fetch the keys before anything is timed
    for (const { subject, url } of servers) {
      for (const token of [tokens[subject.tokens][0], tokens[subject.tokens][params.tokens - 1]]) {
        await expectOk(`${url}${PATH}`, { headers: { authorization: `Bearer ${token}` } })
      }
      const pool = tokens[subject.tokens]
      if (params.warmupRequests !== undefined) {
        // both shapes, alternately: the one token, then one of the pool
        const bearer = (i: number) => ({ authorization: `Bearer ${pool[i % 2 === 0 ? 0 : i % pool.length]}` })
        await warmUp(`${url}${PATH}`, params.warmupRequests, bearer)
      } else {
        for (const shape of SHAPES) await loadOf(url, pool, shape, params.warmup)
      }
    }

    const results = new Map<string, LoadResult[]>()
    // server CPU time per answered request: less at the mercy of other load on the machine than req/s
    const cpuPerRequest = new Map<string, number[]>()
    const verifyRuns: number[] = []
    const probe = await startProbe('probes/rs256-verify.ts', {
      env: { BENCH_TOKENS_FILE: tokensFile, BENCH_JWKS_URL: `${issuerUrl}/.well-known/jwks.json` },
    })
    children.push(probe.child)
    // what is measured in which shape: everything in a full run, what a goal needs in --quick
    const measured = (subject: Subject, shape: Shape) => !context.quick || subject.quickShapes.includes(shape)
    await eachRun(context, async () => {
      for (const shape of SHAPES) {
        // the subjects take turns slice by slice, so the machine's ups and downs (it is shared,
        // and its speed moves by a third within minutes) fall on all of them alike
        const slices = new Map<string, LoadResult[]>()
        const cpu = new Map<string, number>()
        const subjects = servers.filter(({ subject }) => measured(subject, shape))
        context.log(
          `  ${shape === 'one-token' ? 'one token' : `${params.tokens} tokens`}: ${subjects.length} subjects in turn, ${params.slices} slices each`,
        )
        for (let slice = 0; slice < params.slices; slice++) {
          for (const { subject, url, pid } of subjects) {
            const cpuBefore = await cpuSeconds(pid)
            const result = await loadOf(url, tokens[subject.tokens], shape, params.duration / params.slices)
            cpu.set(subject.key, (cpu.get(subject.key) ?? 0) + (await cpuSeconds(pid)) - cpuBefore)
            slices.set(subject.key, [...(slices.get(subject.key) ?? []), result])
          }
        }
        for (const { subject } of subjects) {
          const key = `${shape}.${subject.key}`
          const result = combineLoads(slices.get(subject.key) ?? [], params.duration)
          results.set(key, [...(results.get(key) ?? []), result])
          cpuPerRequest.set(key, [
            ...(cpuPerRequest.get(key) ?? []),
            ((cpu.get(subject.key) ?? 0) / Math.max(1, result.answered)) * 1e6,
          ])
        }
      }
      context.log('  raw node:crypto RS256 verify')
      verifyRuns.push(await probe.run(params.verifyDuration))
    })

    const perSecond = (key: string) => (results.get(key) ?? []).map((r) => r.okPerSecond)
    const detail = (key: string) =>
      `${describeLoads(results.get(key) ?? [])}, ${median(cpuPerRequest.get(key) ?? []).toFixed(0)} µs server CPU/req`
    const figures: Figure[] = []
    const bareOne = {
      label: 'bare Fastify, one token',
      unit: 'req/s',
      runs: perSecond('one-token.bare-fastify'),
    }
    // what a server that checks every token can do at best: the same route, signature only
    const ceiling = {
      label: 'Fastify + raw node:crypto RS256 verify, same tokens',
      unit: 'req/s',
      runs: perSecond('pool.fastify-raw-verify'),
    }
    for (const { subject } of servers.filter((server) => measured(server.subject, 'one-token'))) {
      figures.push(
        figure({
          id: `protected.one-token.${subject.key}`,
          scenario: 'protected-route',
          subject: subject.label,
          metric: `one token, ${params.connections} conn`,
          unit: 'req/s',
          runs: perSecond(`one-token.${subject.key}`),
          detail: detail(`one-token.${subject.key}`),
          baseline: bareOne,
          ...(subject.key === 'fastify-middleware'
            ? { goal: { kind: 'ratio-at-least', threshold: 0.9 } }
            : {}),
        }),
      )
    }
    // issue 21: the Fastify adapter's CPU per request with one token, at most 1.1x a bare route's
    figures.push(
      figure({
        id: 'protected.one-token.fastify-middleware.cpu',
        scenario: 'protected-route',
        subject: 'Fastify + @tessera/middleware',
        metric: `server CPU per request, one token, ${params.connections} conn`,
        unit: 'µs',
        runs: cpuPerRequest.get('one-token.fastify-middleware') ?? [],
        baseline: {
          label: 'bare Fastify, one token',
          unit: 'µs',
          runs: cpuPerRequest.get('one-token.bare-fastify') ?? [],
        },
        goal: { kind: 'ratio-at-most', threshold: 1.1 },
      }),
    )
    const totalPool = (key: string) => (results.get(key) ?? []).reduce((sum, r) => sum + r.ok, 0)
    for (const { subject } of servers.filter((server) => measured(server.subject, 'pool'))) {
      const key = `pool.${subject.key}`
      const passes = totalPool(key) / params.tokens / context.params.runs
      figures.push(
        figure({
          id: `protected.pool.${subject.key}`,
          scenario: 'protected-route',
          subject: subject.label,
          metric: `${params.tokens.toLocaleString('en')} tokens, ${params.connections} conn`,
          unit: 'req/s',
          runs: perSecond(key),
          detail: `${detail(key)}, ${passes.toFixed(1)} passes over the pool per run`,
          baseline: ceiling,
          // the goal is about verifying distinct tokens, so it is judged without the cache
          ...(subject.key === 'fastify-middleware-uncached'
            ? { goal: { kind: 'ratio-at-least', threshold: 0.9 } }
            : {}),
        }),
      )
    }
    // how much of the machine HTTP takes: the ceiling server against verification alone
    figures.push(
      figure({
        id: 'protected.pool.verify-loop',
        scenario: 'protected-route',
        subject: 'Fastify + raw node:crypto verify (signature only)',
        metric: `${params.tokens.toLocaleString('en')} tokens, ${params.connections} conn, against verification alone`,
        unit: 'req/s',
        runs: perSecond('pool.fastify-raw-verify'),
        detail: 'the ceiling above, without HTTP: one thread verifying in a loop, nothing else',
        baseline: {
          label: 'raw node:crypto RS256 verify, 1 thread, in a loop',
          unit: 'verify/s',
          runs: verifyRuns,
        },
      }),
    )
    return figures
  } finally {
    await Promise.all(children.map((child) => child.stop()))
  }
}
