import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sharedTemplate } from './shared-template.js'
import { delay, waitFor } from './wait.js'

// where they lived first: the tests that import them from here keep working
export { delay, waitFor }

/** The built CLI (test/helpers/build.ts compiles it once per run). */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

const require = createRequire(import.meta.url)

export type Env = Record<string, string | undefined>

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface CliResult extends Exit {
  stdout: string
  stderr: string
  /** Milliseconds from spawn to exit. */
  ms: number
}

export interface SpawnOptions {
  /** Leave stdin open instead of ending it (a command that waits for stdin then never finishes). */
  keepStdinOpen?: boolean
  /** Kill the child and fail when it runs longer than this. */
  timeoutMs?: number
}

const live = new Set<ChildProcessWithoutNullStreams>()
const tempDirs = new Set<string>()

/**
 * The environment of every child: nothing of the test runner's own (no stray DATABASE_URL or
 * NODE_ENV=test), the defaults every test wants, then the test's variables; `undefined` removes one.
 */
export function childEnv(env: Env): NodeJS.ProcessEnv {
  const merged: Env = {
    PATH: process.env.PATH,
    TMPDIR: process.env.TMPDIR,
    HOST: '127.0.0.1',
    TESSERA_RATE_LIMIT: 'off',
    LOG_LEVEL: 'warn',
    ...env,
  }
  return Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => !!entry[1]))
}

interface Spawned {
  child: ChildProcessWithoutNullStreams
  stdout(): string
  stderr(): string
  exited: Promise<Exit>
  started: number
}

/**
 * Node's flags for every spawned CLI. `--liftoff-only` keeps PGlite's WebAssembly on V8's baseline
 * compiler: a test server lives a few seconds, and tiering PGlite up to optimized code cost it 1.3 s
 * of CPU per start on an existing data dir (CPU to ready 2.9 -> 1.55 s, ready 2.0 -> 1.4 s, RSS 240 -> 170 MB), taken from
 * the other tests on the two cores. The code runs the same; only how fast it runs steadily differs.
 */
export const CLI_NODE_FLAGS = ['--liftoff-only']

function spawnTracked(args: string[], env: Env): Spawned {
  const child = spawn(process.execPath, [...CLI_NODE_FLAGS, CLI_PATH, ...args], {
    env: childEnv(env),
    stdio: 'pipe',
  })
  live.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  // a child that exits before reading its stdin makes our write fail with EPIPE: not our concern
  child.stdin.on('error', () => {})
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    })
  })
  return { child, stdout: () => stdout, stderr: () => stderr, exited, started: Date.now() }
}

/** Runs `tessera <args>` to completion; `stdin` is written then closed (the password of `users create`). */
export async function spawnCli(
  args: string[],
  env: Env,
  stdin?: string,
  options: SpawnOptions = {},
): Promise<CliResult> {
  const { child, stdout, stderr, exited, started } = spawnTracked(args, env)
  if (stdin !== undefined) child.stdin.write(stdin)
  if (!options.keepStdinOpen) child.stdin.end()
  const timeoutMs = options.timeoutMs ?? 20_000
  const exit = await within(exited, timeoutMs)
  if (!exit) {
    child.kill('SIGKILL')
    await exited
    throw new Error(
      `tessera ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout()}\nstderr: ${stderr()}`,
    )
  }
  return { ...exit, stdout: stdout(), stderr: stderr(), ms: Date.now() - started }
}

export interface ServerProcess {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  proc: ChildProcessWithoutNullStreams
  stdout(): string
  stderr(): string
  exited: Promise<Exit>
  /** Sends `signal` and waits (bounded) for the exit; fails if the process outlives `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit & { ms: number }>
  /** Waits (bounded) for an exit already under way, sending nothing. */
  waitForExit(timeoutMs?: number): Promise<Exit>
}

/** Starts `tessera serve [args]` on a free port and resolves once `/healthz` answers 200. */
export async function startServerProcess(
  env: Env,
  options: { timeoutMs?: number; args?: string[] } = {},
): Promise<ServerProcess> {
  const choosePort = env.PORT === undefined
  for (let attempt = 1; ; attempt++) {
    const port = choosePort ? await freePort() : Number(env.PORT)
    const spawned = spawnTracked(['serve', ...(options.args ?? [])], { ...env, PORT: String(port) })
    const url = `http://127.0.0.1:${port}`
    const healthy = await waitUntilHealthy(url, spawned, options.timeoutMs ?? 30_000)
    if (healthy === 'exited') {
      // another process took the free port between our probe and the child's listen: try another
      if (choosePort && attempt < 3 && /EADDRINUSE|already in use/.test(spawned.stderr())) continue
      const exit = await spawned.exited
      throw new Error(
        `tessera serve exited before answering /healthz (code ${exit.code}, signal ${exit.signal})\n` +
          `stdout: ${spawned.stdout()}\nstderr: ${spawned.stderr()}`,
      )
    }
    const { child, exited } = spawned
    const waitForExit = async (timeoutMs = 10_000): Promise<Exit> => {
      const exit = await within(exited, timeoutMs)
      if (exit) return exit
      child.kill('SIGKILL')
      await exited
      throw new Error(
        `tessera serve did not exit within ${timeoutMs} ms\nstdout: ${spawned.stdout()}\nstderr: ${spawned.stderr()}`,
      )
    }
    return {
      url,
      port,
      proc: child,
      stdout: spawned.stdout,
      stderr: spawned.stderr,
      exited,
      async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
        const sent = Date.now()
        if (child.exitCode === null && child.signalCode === null) child.kill(signal)
        return { ...(await waitForExit(timeoutMs)), ms: Date.now() - sent }
      },
      waitForExit,
    }
  }
}

async function waitUntilHealthy(url: string, spawned: Spawned, timeoutMs: number): Promise<'ok' | 'exited'> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void spawned.exited.then(() => {
    exited = true
  })
  while (Date.now() < deadline) {
    if (exited) return 'exited'
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      await response.arrayBuffer()
      if (response.status === 200) return 'ok'
    } catch {
      // not listening yet
    }
    await delay(50)
  }
  spawned.child.kill('SIGKILL')
  await spawned.exited
  throw new Error(
    `tessera serve did not answer ${url}/healthz within ${timeoutMs} ms\n` +
      `stdout: ${spawned.stdout()}\nstderr: ${spawned.stderr()}`,
  )
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('no port'))
      })
    })
  })
}

/** A new empty folder under the OS temp dir, removed by {@link cleanupProcesses}. */
export async function tempDir(prefix = 'tessera-cli-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

let template: Promise<string> | undefined

/**
 * A new data dir whose embedded database is already initialised and migrated: a copy of a template
 * made once per set of migrations (by `tessera migrate`), which saves PGlite's initdb (2–6 s) per test. It holds
 * no secret and no signing key yet: the first `serve` makes them, as on a fresh dir.
 */
export async function preparedDataDir(): Promise<string> {
  template ??= makeTemplate()
  const dir = await tempDir()
  await cp(await template, dir, { recursive: true })
  return dir
}

async function makeTemplate(): Promise<string> {
  // keyed by what shapes the database: the built migrations and the PGlite version, so a rebuild
  // that changes neither reuses the template, and one that does gets its own
  const hash = createHash('sha256')
  const migrations = fileURLToPath(new URL('../../dist/store/migrations/', import.meta.url))
  for (const name of (await readdir(migrations)).filter((file) => file.endsWith('.js')).sort()) {
    hash.update(name).update(await readFile(join(migrations, name)))
  }
  // the PGlite version (its package.json is not exported: find it beside the entry point)
  const pglite = dirname(dirname(require.resolve('@electric-sql/pglite')))
  hash.update(await readFile(join(pglite, 'package.json')))
  return sharedTemplate({
    prefix: 'tessera-test-template-',
    key: hash.digest('hex').slice(0, 16),
    what: 'the data-dir template',
    async make(staging) {
      const result = await spawnCli(['migrate'], { TESSERA_DATA_DIR: staging }, undefined, {
        timeoutMs: 60_000,
      })
      if (result.code !== 0) throw new Error(`tessera migrate for the test template failed: ${result.stderr}`)
    },
  })
}

/** For afterEach: kills every child still running (bounded) and removes the temp dirs. */
export async function cleanupProcesses(): Promise<void> {
  const children = [...live]
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const timer = setTimeout(resolve, 5000)
          child.once('close', () => {
            clearTimeout(timer)
            resolve()
          })
          child.kill('SIGKILL')
        }),
    ),
  )
  const dirs = [...tempDirs]
  tempDirs.clear()
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
}

/** `promise`'s value, or undefined if it takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface JsonResponse<T> {
  status: number
  headers: Headers
  body: T
}

/** A JSON request to a server process; `token` becomes `Authorization: Bearer`. */
export async function requestJson<T = Record<string, unknown>>(
  url: string,
  options: { method?: string; body?: unknown; token?: string } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = {}
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (options.token) headers.authorization = `Bearer ${options.token}`
  const response = await fetch(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as T }
}

export interface TokenResponse {
  user?: { id: string; email: string; roles: string[] }
  accessToken: string
  refreshToken: string
}

export const register = (base: string, email: string, password: string) =>
  requestJson<TokenResponse>(`${base}/auth/register`, { body: { email, password, tokenDelivery: 'body' } })

export const login = (base: string, email: string, password: string) =>
  requestJson<TokenResponse>(`${base}/auth/login`, { body: { email, password, tokenDelivery: 'body' } })
