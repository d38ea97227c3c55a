import { PassThrough } from 'node:stream'
import { run } from '../../src/cli/main.js'
import { childEnv, delay, type Env, freePort } from './process.js'

/**
 * The CLI run in the test's own process (`run` of src/cli/main.ts): no Node start-up, no module
 * loading, no spawn per command. The data-dir lock still holds between this process and a spawned
 * server, and between an in-process server and a command run here.
 */
export interface InProcessResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunCliOptions {
  /** Leave stdin open instead of ending it (a command that waits for stdin then never finishes). */
  keepStdinOpen?: boolean
}

/** Runs `tessera <args>` to completion in-process; `stdin` is written then ended, as spawnCli does. */
export async function runCli(
  args: string[],
  env: Env,
  stdin?: string,
  options: RunCliOptions = {},
): Promise<InProcessResult> {
  const input = new PassThrough()
  if (stdin !== undefined) input.write(stdin)
  if (!options.keepStdinOpen) input.end()
  let stdout = ''
  let stderr = ''
  try {
    const code = await run(args, {
      env: childEnv(env),
      stdin: input,
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    })
    return { code, stdout, stderr }
  } finally {
    input.destroy()
  }
}

export interface InProcessServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  /** What the server wrote so far: the banner and its log lines. */
  stdout(): string
  stderr(): string
  /** Stops it as SIGTERM would (draining requests) and resolves with its exit code. */
  stop(): Promise<{ code: number }>
}

const running = new Set<InProcessServer>()

/** Runs `tessera serve` in-process on a free port (or env.PORT) and resolves once `/healthz` answers 200. */
export async function startServerInProcess(env: Env, timeoutMs = 30_000): Promise<InProcessServer> {
  const port = env.PORT === undefined ? await freePort() : Number(env.PORT)
  const controller = new AbortController()
  let stdout = ''
  let stderr = ''
  const stdin = new PassThrough()
  stdin.end()
  let code: number | undefined
  const exited = run(['serve'], {
    env: childEnv({ ...env, PORT: String(port) }),
    stdin,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    signal: controller.signal,
  }).then((exit) => {
    code = exit
    return exit
  })
  const url = `http://127.0.0.1:${port}`
  const server: InProcessServer = {
    url,
    port,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      controller.abort()
      const exit = await exited
      running.delete(server)
      return { code: exit }
    },
  }
  running.add(server)
  const deadline = Date.now() + timeoutMs
  while (code === undefined) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      await response.arrayBuffer()
      if (response.status === 200) return server
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop()
      throw new Error(
        `tessera serve did not answer ${url}/healthz within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
      )
    }
    await delay(50)
  }
  running.delete(server)
  throw new Error(
    `tessera serve exited (code ${code}) before answering /healthz\nstdout: ${stdout}\nstderr: ${stderr}`,
  )
}

/** For afterEach: stops every in-process server still running. */
export async function stopInProcessServers(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()))
}
