import { randomBytes } from 'node:crypto'
import { type Child, ROOT_DIR, startNode, TESSERA_CLI } from './children.js'
import { expectOk, type LoadResult, load } from './load.js'
import { freePort } from './ports.js'
import { sleep } from './stats.js'

/** One secret per harness run: every server and seed step of a run opens the same keys. */
export const BENCH_SECRET = randomBytes(48).toString('base64url')

/** What every Tessera process of the harness runs with, besides its database. */
export const TESSERA_ENV: Readonly<Record<string, string>> = {
  TESSERA_SECRET: BENCH_SECRET,
  TESSERA_RATE_LIMIT: 'off',
  // long enough that no token minted at the start of a full run expires during it
  TESSERA_ACCESS_TOKEN_TTL: '1h',
  TESSERA_PASSWORD_MIN_SCORE: '0',
  // requests are not logged: the harness measures the server, not pino writing to a pipe
  LOG_LEVEL: 'warn',
}

export interface TesseraServer {
  child: Child
  url: string
  /** Milliseconds from spawning `tessera serve` to the first 200 from /readyz. */
  startupMs: number
}

/** Polls `url` until it answers 200; answers the time it took. */
export async function waitUntilOk(url: string, started: number, timeoutMs: number, child?: Child) {
  for (;;) {
    if (child && child.process.exitCode !== null) throw new Error(`server exited:\n${child.output()}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await response.arrayBuffer()
      if (response.status === 200) return performance.now() - started
    } catch {
      // not listening yet
    }
    if (performance.now() - started > timeoutMs) {
      throw new Error(`${url} not ready within ${timeoutMs} ms${child ? `:\n${child.output()}` : ''}`)
    }
    await sleep(10)
  }
}

/**
 * With BENCH_CPU_PROF=<dir>, every `tessera serve` writes a V8 CPU profile there when it stops
 * (summarise with `npm run bench:profile -- <dir>`). Profiling slows the server: never for figures.
 */
function profileFlags(): string[] {
  const dir = process.env.BENCH_CPU_PROF
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []
}

/**
 * Starts `node packages/server/dist/cli.js serve` on 127.0.0.1 with `env` (DATABASE_URL or
 * TESSERA_DATA_DIR) and waits for /readyz.
 */
export async function startTesseraServe(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<TesseraServer> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const started = performance.now()
  const child = startNode([...profileFlags(), TESSERA_CLI, 'serve'], {
    cwd: ROOT_DIR,
    env: { ...TESSERA_ENV, HOST: '127.0.0.1', PORT: String(port), TESSERA_PUBLIC_URL: url, ...env },
  })
  try {
    const startupMs = await waitUntilOk(`${url}/readyz`, started, timeoutMs, child)
    return { child, url, startupMs }
  } catch (error) {
    await child.stop(1000)
    throw error
  }
}

export const BENCH_PASSWORD = 'correct horse battery staple'

/** Registers `count` users over HTTP (argon2 hashing: about 10 ms each); answers their emails. */
export async function registerUsers(url: string, count: number, prefix = 'bench'): Promise<string[]> {
  const emails: string[] = []
  for (let i = 0; i < count; i++) {
    const email = `${prefix}-${i}@example.com`
    const response = await fetch(`${url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: BENCH_PASSWORD, tokenDelivery: 'body' }),
      signal: AbortSignal.timeout(10_000),
    })
    if (response.status !== 201)
      throw new Error(`register ${email}: ${response.status} ${await response.text()}`)
    await response.arrayBuffer()
    emails.push(email)
  }
  return emails
}

/** A login of the `i`-th of `emails` (round robin) with {@link BENCH_PASSWORD}, tokens in the body. */
const loginBody = (emails: readonly string[], i: number): string =>
  JSON.stringify({ email: emails[i % emails.length], password: BENCH_PASSWORD, tokenDelivery: 'body' })

/** Fails unless `url` (a login path) signs the first of `emails` in once. */
export const expectLogin = (url: string, emails: readonly string[]): Promise<Response> =>
  expectOk(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: loginBody(emails, 0),
  })

/** Logins at `url` (a login path) for `duration` seconds, each connection's next user in turn. */
export function loginLoad(
  url: string,
  emails: readonly string[],
  options: { connections: number; duration: number },
): Promise<LoadResult> {
  let next = 0
  return load({
    url,
    connections: options.connections,
    duration: options.duration,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    setupRequest: (request) => ({ ...request, body: loginBody(emails, next++) }),
  })
}
