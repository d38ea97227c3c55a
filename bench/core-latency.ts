/**
 * Login and refresh latency of the server core, on embedded PGlite and on PostgreSQL, with a raw
 * argon2 verification measured in the same run as the baseline for login.
 *
 *   npm run bench:core                      # PGlite, and PostgreSQL when it answers on 127.0.0.1:5432
 *   BENCH_DATABASE_URL=postgres://… npm run bench:core
 *
 * Real HTTP on 127.0.0.1, sequential requests (latency, not throughput); bounded counts.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { hash, verify } from '@node-rs/argon2'
import pg from 'pg'
import { parseConfig } from '../packages/server/src/config.js'
import { OWASP_ARGON2ID } from '../packages/server/src/passwords/hasher.js'
import { createTessera } from '../packages/server/src/tessera.js'

const LOGINS = 40
const REFRESHES = 400
const PASSWORD = 'correct horse battery staple'

interface Stats {
  median: number
  p95: number
  p99: number
}

const stats = (samples: number[]): Stats => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return { median: at(0.5), p95: at(0.95), p99: at(0.99) }
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - start) / 1e6
}

async function argon2Baseline(): Promise<Stats> {
  const stored = await hash(PASSWORD, { ...OWASP_ARGON2ID, algorithm: 2 })
  const samples: number[] = []
  for (let i = 0; i < LOGINS; i++) samples.push(await time(() => verify(stored, PASSWORD)))
  return stats(samples)
}

async function measure(label: string, env: Record<string, string>) {
  const config = parseConfig({
    TESSERA_SECRET: randomBytes(48).toString('base64url'),
    TESSERA_RATE_LIMIT: 'off',
    PORT: '0',
    ...env,
  })
  const tessera = await createTessera(config, { logger: false })
  try {
    const address = await tessera.app.listen({ port: 0, host: '127.0.0.1' })
    const post = (path: string, body: unknown) =>
      fetch(`${address}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (response) => {
        if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
        return response.json() as Promise<{ refreshToken: string }>
      })
    const email = `bench-${Date.now()}@example.com`
    let { refreshToken } = await post('/auth/register', { email, password: PASSWORD, tokenDelivery: 'body' })
    // warm-up
    for (let i = 0; i < 5; i++) await post('/auth/login', { email, password: PASSWORD })
    const logins: number[] = []
    for (let i = 0; i < LOGINS; i++)
      logins.push(await time(() => post('/auth/login', { email, password: PASSWORD })))
    const refreshes: number[] = []
    for (let i = 0; i < REFRESHES; i++) {
      refreshes.push(
        await time(async () => {
          refreshToken = (await post('/auth/refresh', { refreshToken })).refreshToken
        }),
      )
    }
    return { label, login: stats(logins), refresh: stats(refreshes) }
  } finally {
    await tessera.close()
  }
}

async function postgresUrl(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const admin = new pg.Client({ connectionString: base, connectionTimeoutMillis: 2000 })
  try {
    await admin.connect()
  } catch {
    return undefined
  }
  const name = `tessera_bench_${Date.now()}`
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.href,
    async drop() {
      const client = new pg.Client({ connectionString: base })
      await client.connect()
      await client.query(`drop database if exists ${name} with (force)`)
      await client.end()
    },
  }
}

const fmt = (ms: number) => ms.toFixed(2).padStart(7)

const baseline = await argon2Baseline()
const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-'))
const rows = [await measure('PGlite (on disk)', { TESSERA_DATA_DIR: dir })]
await rm(dir, { recursive: true, force: true })
const postgres = await postgresUrl()
if (postgres) {
  rows.push(await measure('PostgreSQL', { DATABASE_URL: postgres.url }))
  await postgres.drop()
}

console.log(
  `Node ${process.version}, ${availableParallelism()} cores; sequential requests over HTTP on 127.0.0.1`,
)
console.log(
  `argon2id verify (m=19456, t=2, p=1), raw: median ${fmt(baseline.median)} ms  p95 ${fmt(baseline.p95)} ms`,
)
console.log('')
console.log('database           | login median  p95      x argon2 | refresh median  p95      p99')
for (const row of rows) {
  console.log(
    `${row.label.padEnd(18)} | ${fmt(row.login.median)} ${fmt(row.login.p95)}  ${(row.login.median / baseline.median).toFixed(2).padStart(6)}x | ` +
      `${fmt(row.refresh.median)}  ${fmt(row.refresh.p95)} ${fmt(row.refresh.p99)}`,
  )
}
