import { type ChildProcess, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT_DIR = join(BENCH_DIR, '..')
export const TESSERA_CLI = join(ROOT_DIR, 'packages/server/dist/cli.js')

/** A process this harness started; `stop()` ends it (SIGTERM, then SIGKILL after `graceMs`). */
export interface Child {
  readonly pid: number
  readonly process: ChildProcess
  /** The last few KiB of its stdout and stderr, for error messages. */
  output(): string
  stop(graceMs?: number): Promise<void>
}

// every live child, killed when the harness exits for any reason
const live = new Set<ChildProcess>()

/** Kills every child still running (SIGKILL); safe to call from an `exit` handler. */
export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL')
  live.clear()
}

process.on('exit', killAllChildren)

/** Kills `child` with the others when the harness ends early (for processes not started by startNode). */
export function trackChild(child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
}

const TAIL = 8192

export interface StartOptions {
  env?: Record<string, string>
  cwd?: string
}

/** Starts `node [args]` with stdout/stderr captured and an IPC channel. */
export function startNode(args: string[], options: StartOptions = {}): Child {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? BENCH_DIR,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  if (child.pid === undefined) throw new Error(`could not start node ${args.join(' ')}`)
  live.add(child)
  let tail = ''
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-TAIL)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.once('exit', () => live.delete(child))
  return {
    pid: child.pid,
    process: child,
    output: () => tail,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

// where the compiled child scripts go (git-ignored), and each compilation of this run by source
const COMPILED_DIR = join(BENCH_DIR, 'tmp', 'js')
const compiled = new Map<string, Promise<string | undefined>>()

/**
 * Compiles a TypeScript entry of this workspace and the bench files it imports into one plain ES
 * module (npm packages stay imports), once per run: under tsx every child paid its loader on each
 * module it loaded, about twice the CPU of importing the server without it. Undefined for an entry
 * that imports the server's sources: they find files beside themselves, so they run under tsx.
 */
function compile(file: string): Promise<string | undefined> {
  let done = compiled.get(file)
  if (!done) {
    const outfile = join(COMPILED_DIR, file.replace(/\.ts$/, '.mjs'))
    done = build({
      entryPoints: [join(BENCH_DIR, file)],
      outfile,
      bundle: true,
      packages: 'external',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      metafile: true,
      logLevel: 'silent',
    }).then(({ metafile }) =>
      Object.keys(metafile.inputs).some((input) => input.includes('packages/')) ? undefined : outfile,
    )
    compiled.set(file, done)
  }
  return done
}

/** Starts a TypeScript entry of this workspace (servers/, probes/): compiled, or under tsx. */
export async function startScript(file: string, options: StartOptions = {}): Promise<Child> {
  const script = await compile(file)
  return startNode(script ? [script] : ['--import', 'tsx', join(BENCH_DIR, file)], options)
}

/**
 * Resolves with the first IPC message of `type` from the child; rejects if the child exits first
 * or nothing comes within `timeoutMs`.
 */
export function waitForMessage<T extends { type: string }>(
  child: Child,
  type: T['type'],
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type) {
        done()
        resolve(message as T)
      }
    }
    const onExit = (code: number | null, signal: string | null) => {
      done()
      reject(new Error(`child exited (${signal ?? code}) before "${type}":\n${child.output()}`))
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`no "${type}" from the child within ${timeoutMs} ms:\n${child.output()}`))
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      child.process.off('message', onMessage)
      child.process.off('exit', onExit)
    }
    child.process.on('message', onMessage)
    child.process.once('exit', onExit)
  })
}

/** A server child announces `{ type: 'ready', port }` once it listens on 127.0.0.1. */
export interface ReadyMessage {
  type: 'ready'
  port: number
}

/** Starts a server script and waits until it listens; answers its base URL. */
export async function startServerScript(
  file: string,
  options: StartOptions = {},
  timeoutMs = 60_000,
): Promise<{ child: Child; url: string }> {
  const child = await startScript(file, options)
  try {
    const { port } = await waitForMessage<ReadyMessage>(child, 'ready', timeoutMs)
    return { child, url: `http://127.0.0.1:${port}` }
  } catch (error) {
    await child.stop(1000)
    throw error
  }
}

/** Resident set size of a process in MB (Linux `/proc`). */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(kb) / 1024
}

/**
 * CPU time (user + system, all threads) a process has used so far, in seconds (Linux `/proc`); with
 * `thread`, that thread's alone.
 */
export async function cpuSeconds(pid: number, thread?: number): Promise<number> {
  const stat = await readFile(
    thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
    'utf8',
  )
  // fields after the command name, which may hold spaces: utime and stime are the 12th and 13th
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * {@link cpuSeconds} split between the main thread (the event loop) and the process's other
 * threads (libuv's pool, where argon2 runs, and V8's helpers): Node 20 names no thread, so the
 * main thread is the one whose id is the process's.
 */
export async function cpuSecondsByThread(pid: number): Promise<{ main: number; others: number }> {
  const [all, main] = await Promise.all([cpuSeconds(pid), cpuSeconds(pid, pid)])
  return { main, others: all - main }
}

/**
 * CPU time (user + system, seconds) of this process and of every child it has reaped so far (the
 * servers, probes, builds and pgbench of the run, once they have exited), from `/proc/self/stat`.
 */
export async function ownAndChildrenCpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  // utime, stime, cutime, cstime are the 12th to 15th fields after the command name
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100
}
