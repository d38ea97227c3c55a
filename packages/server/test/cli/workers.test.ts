import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { access } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, parseWorkers } from '../../src/config.js'
import { freshPostgresUrl, TEST_DATABASE_URL } from '../helpers/database.js'
import {
  cleanupProcesses,
  type Env,
  freePort,
  preparedDataDir,
  type ServerProcess,
  spawnCli,
  startServerProcess,
  tempDir,
  waitFor,
} from '../helpers/process.js'
import { sampleValue } from '../observability/scrape.js'

const PASSWORD = 'correct horse battery staple'
const SECRET = randomBytes(36).toString('base64url')
const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

const drops: (() => Promise<void>)[] = []
afterEach(async () => {
  await cleanupProcesses()
  await Promise.all(drops.splice(0).map((drop) => drop()))
})

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

// the flags and the embedded database: nothing here reads PostgreSQL, so the PostgreSQL pass skips it
describe.skipIf(TEST_DATABASE_URL)('serve --workers: what it accepts', () => {
  it('reads a whole number, or auto as one worker per CPU', () => {
    expect(parseWorkers('--workers', '3')).toBe(3)
    expect(parseWorkers('--workers', 'auto', () => 6)).toBe(6)
    expect(parseWorkers('--workers', 'AUTO', () => 1)).toBe(1)
  })

  it.each(['0', '-1', 'abc', '1.5', '', '257'])('refuses %j, naming the flag', (raw) => {
    expect(() => parseWorkers('--workers', raw)).toThrow(ConfigError)
    expect(() => parseWorkers('--workers', raw)).toThrow(/^--workers: expected a whole number from 1/)
  })

  it.each([
    '--workers 0',
    '--workers=0',
    '--workers abc',
    '--workers=-1',
    // parseArgs takes "-1" for an option, not a value: still a usage error naming the flag
    '--workers -1',
  ])('exits 2 for serve %s, naming --workers, before touching the data dir', async (flag) => {
    const dir = join(await tempDir(), 'data')
    const result = await spawnCli(['serve', ...flag.split(' ')], {
      TESSERA_DATA_DIR: dir,
      DATABASE_URL: TEST_DATABASE_URL,
      PORT: String(await freePort()),
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^tessera: .*--workers/)
    expect(result.stderr).not.toMatch(/\n\s+at /)
    expect(result.stdout).toBe('')
    expect(await exists(dir)).toBe(false)
  })

  it('refuses a bad TESSERA_WORKERS as any bad variable (exit 1, naming it)', async () => {
    const dir = join(await tempDir(), 'data')
    const result = await spawnCli(['serve'], { TESSERA_DATA_DIR: dir, TESSERA_WORKERS: 'many' })
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(
      'tessera: TESSERA_WORKERS: expected a whole number from 1 to 256, or auto (one per CPU), got "many"\n',
    )
    expect(await exists(dir)).toBe(false)
  })
})

describe.skipIf(TEST_DATABASE_URL)('serve --workers on the embedded database', () => {
  it('refuses several workers (exit 2), saying PGlite is one process and to set DATABASE_URL', async () => {
    const dir = join(await tempDir(), 'data')
    const result = await spawnCli(['serve', '--workers', '2'], {
      TESSERA_DATA_DIR: dir,
      PORT: String(await freePort()),
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(
      `tessera: --workers 2 needs PostgreSQL: the embedded database (PGlite in ${dir}) can be opened by ` +
        'one process only. Set DATABASE_URL=postgres://… to run several workers, or run one.\n',
    )
    expect(result.stdout).toBe('')
    // refused before opening anything: no database, no lock, no development secret
    expect(await exists(dir)).toBe(false)
  })

  it('refuses TESSERA_WORKERS=2 on the in-memory database too, naming the variable', async () => {
    const result = await spawnCli(['serve'], {
      DATABASE_URL: 'memory://',
      TESSERA_WORKERS: '2',
      PORT: String(await freePort()),
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(
      /^tessera: TESSERA_WORKERS=2 needs PostgreSQL: the in-memory embedded database/,
    )
  })

  it('serves as one process with --workers 1 (the flag winning over TESSERA_WORKERS)', async () => {
    // a copied data dir, not memory://: the same embedded database without initdb in the child
    const server = await startServerProcess(
      {
        TESSERA_DATA_DIR: await preparedDataDir(),
        // set, so the data dir's development secret is not announced before the banner
        TESSERA_SECRET: randomBytes(36).toString('base64url'),
        TESSERA_WORKERS: '4',
      },
      { args: ['--workers', '1'] },
    )
    expect(server.stdout()).toMatch(/^Tessera is listening on http:\/\/127\.0\.0\.1:\d+\n/)
    expect(server.stdout()).not.toContain('Workers')
    expect(childPids(server)).toEqual([])
    expect(await server.stop('SIGTERM')).toMatchObject({ code: 0, signal: null })
  })
})

/** The pids of the processes whose parent is the server: its workers. */
function childPids(server: ServerProcess): number[] {
  const ps = spawnSync('ps', ['-o', 'pid=', '--ppid', String(server.proc.pid)], { encoding: 'utf8' })
  return ps.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map(Number)
    .sort((a, b) => a - b)
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

interface Answer {
  status: number
  body: Record<string, unknown>
  text: string
}

/**
 * A request on a connection of its own: node:cluster hands each new connection to the next worker,
 * where fetch would keep reusing one.
 */
function send(
  url: string,
  options: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  const headers: Record<string, string> = { ...options.headers }
  if (payload !== undefined) headers['content-type'] = 'application/json'
  if (options.token) headers.authorization = `Bearer ${options.token}`
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? (payload ? 'POST' : 'GET'), headers, agent: false })
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)))
    req.on('error', reject)
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => {
        const json = res.headers['content-type']?.includes('json') ? JSON.parse(text) : {}
        resolve({ status: res.statusCode ?? 0, body: json, text })
      })
    })
    req.end(payload)
  })
}

interface LogLine {
  pid: number
  msg: string
  req?: { url?: string }
  workerPid?: number
}

/** The server's JSON log lines (workers and primary share its stdout). */
const logLines = (server: ServerProcess): LogLine[] =>
  server
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)

/** The pids of the processes that logged an incoming request for exactly `url`. */
const answeredBy = (server: ServerProcess, url: string): Set<number> =>
  new Set(
    logLines(server)
      .filter((line) => line.msg === 'incoming request' && line.req?.url === url)
      .map((line) => line.pid),
  )

describe.skipIf(!TEST_DATABASE_URL)('serve --workers on PostgreSQL', () => {
  /** `serve --workers 2` on a fresh database, once its banner says every worker listens. */
  async function startWorkers(extra: Env = {}): Promise<ServerProcess> {
    const database = await freshPostgresUrl()
    if (!database) throw new Error('TEST_DATABASE_URL is not set')
    drops.push(database.drop)
    const server = await startServerProcess(
      { DATABASE_URL: database.url, TESSERA_SECRET: SECRET, LOG_LEVEL: 'info', ...extra },
      { args: ['--workers', '2'] },
    )
    await waitFor(
      () => (server.stdout().includes('  Workers      2 processes') ? true : undefined),
      'the banner of serve --workers 2',
      30_000,
    )
    return server
  }

  it('serves one port from two workers that share keys and sessions; a killed worker is replaced', async () => {
    const server = await startWorkers()
    const { url } = server

    // the banner once, from the primary, after both workers logged that they listen
    const out = server.stdout()
    expect(out.match(/Tessera is listening on/g)).toHaveLength(1)
    expect(out).toContain(`  Workers      2 processes (primary pid ${server.proc.pid})`)
    const bannerAt = out.indexOf('Tessera is listening on')
    expect(out.slice(0, bannerAt).match(/"msg":"Server listening at/g)).toHaveLength(2)

    const workers = childPids(server)
    expect(workers).toHaveLength(2)
    // each new connection goes to the next worker: both answer
    for (let i = 0; i < 8; i++) expect((await send(`${url}/healthz?probe=first`)).status).toBe(200)
    expect([...answeredBy(server, '/healthz?probe=first')].sort((a, b) => a - b)).toEqual(workers)

    // a token issued by one worker verifies on the other
    const registered = await send(`${url}/auth/register`, {
      body: { email: 'workers@example.com', password: PASSWORD, tokenDelivery: 'body' },
    })
    expect(registered.status).toBe(201)
    const token = String(registered.body.accessToken)
    for (let i = 0; i < 6; i++) expect((await send(`${url}/auth/me`, { token })).status).toBe(200)
    expect(answeredBy(server, '/auth/me').size).toBe(2)

    // SIGKILL one worker: the primary starts another, and requests are answered all the while
    const [victim = 0, survivor = 0] = workers
    process.kill(victim, 'SIGKILL')
    // (a connection node:cluster hands to the worker in the instant it dies is lost with it: the
    // requests start once the primary knows)
    await waitFor(
      () =>
        logLines(server).some(
          (line) => line.msg === 'worker exited unexpectedly; restarting it' && line.workerPid === victim,
        ) || undefined,
      'the primary to see the worker die',
    )
    let answeredDuringRestart = 0
    const replacement = await waitFor(
      async () => {
        expect((await send(`${url}/healthz?probe=during`)).status).toBe(200)
        answeredDuringRestart++
        const now = childPids(server)
        const fresh = now.find((pid) => pid !== survivor && pid !== victim)
        const listening = logLines(server).some(
          (line) => line.msg === 'restarted worker is listening' && line.workerPid === fresh,
        )
        return fresh !== undefined && listening && now.length === 2 ? fresh : undefined
      },
      'a replacement worker',
      30_000,
      100,
    )
    // the survivor answered while the replacement started; the replacement may answer the last
    // probes too, since it takes requests a moment before the primary logs that it listens. The
    // killed worker answered none.
    expect(answeredDuringRestart).toBeGreaterThan(1)
    const answerers = [...answeredBy(server, '/healthz?probe=during')]
    expect(answerers).toContain(survivor)
    expect(answerers.filter((pid) => pid !== survivor && pid !== replacement)).toEqual([])
    expect(alive(victim)).toBe(false)
    for (let i = 0; i < 8; i++) expect((await send(`${url}/auth/me`, { token })).status).toBe(200)
    expect(answeredBy(server, '/auth/me')).toContain(replacement)

    // SIGTERM to the primary: every worker drains and exits, then the primary exits 0
    const stopped = await server.stop('SIGTERM', 15_000)
    expect(stopped).toMatchObject({ code: 0, signal: null })
    expect(stopped.ms).toBeLessThan(10_000)
    expect([survivor, replacement].filter(alive)).toEqual([])
    expect(logLines(server).filter((line) => line.msg === 'shutting down: draining requests')).toHaveLength(2)
  })

  it('reports the whole service at /metrics whichever worker is scraped: counters summed, sessions not', async () => {
    const server = await startWorkers({ TESSERA_METRICS_TOKEN: METRICS_TOKEN })
    const { url } = server
    const email = 'metrics@example.com'
    expect(
      (await send(`${url}/auth/register`, { body: { email, password: PASSWORD, tokenDelivery: 'body' } }))
        .status,
    ).toBe(201)
    const logins = 6
    for (let i = 0; i < logins; i++) {
      const answer = await send(`${url}/auth/login`, {
        body: { email, password: PASSWORD, tokenDelivery: 'body' },
      })
      expect(answer.status).toBe(200)
    }
    // both workers counted some of the logins: one worker's registry alone would show fewer
    expect(answeredBy(server, '/auth/login').size).toBe(2)

    const authorization = `Bearer ${METRICS_TOKEN}`
    for (let i = 0; i < 4; i++) {
      const scrape = await send(`${url}/metrics?scrape=${i}`, { headers: { authorization } })
      expect(scrape.status).toBe(200)
      const text = scrape.text
      expect(sampleValue(text, 'tessera_auth_events_total', { type: 'login_succeeded' })).toBe(logins)
      expect(sampleValue(text, 'tessera_auth_events_total', { type: 'register' })).toBe(1)
      expect(
        sampleValue(text, 'tessera_http_requests_total', {
          route: '/auth/login',
          method: 'POST',
          status: '200',
        }),
      ).toBe(logins)
      expect(
        sampleValue(text, 'tessera_http_request_duration_seconds_count', {
          route: '/auth/login',
          method: 'POST',
        }),
      ).toBe(logins)
      // one session per login and one from the registration, counted in the database by each
      // worker: the same number, not twice it
      expect(sampleValue(text, 'tessera_active_sessions')).toBe(logins + 1)
    }
    // the scrapes themselves were answered by both workers
    const scrapedBy = new Set(
      logLines(server)
        .filter((line) => line.msg === 'incoming request' && line.req?.url?.startsWith('/metrics?scrape='))
        .map((line) => line.pid),
    )
    expect(scrapedBy.size).toBe(2)
  })

  it('keeps restarting a worker that dies young while another one serves', async () => {
    const server = await startWorkers()
    const killed = new Set<number>()
    // the newest worker dies as soon as it listens, five times in a row; the first one lives on
    while (killed.size < 5) {
      const newest = await waitFor(
        () => {
          const pid = logLines(server)
            .filter((line) => line.msg.startsWith('Server listening at'))
            .map((line) => line.pid)
            .at(-1)
          return pid !== undefined && !killed.has(pid) && alive(pid) ? pid : undefined
        },
        'a restarted worker',
        30_000,
        50,
      )
      killed.add(newest)
      process.kill(newest, 'SIGKILL')
    }
    expect(server.proc.exitCode).toBeNull()
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    expect(logLines(server).map((line) => line.msg)).not.toContain(
      'workers keep dying soon after they start; giving up',
    )
    expect(await server.stop('SIGTERM')).toMatchObject({ code: 0, signal: null })
  })

  it('gives up and exits 1 when workers keep dying soon after they start', async () => {
    const server = await startWorkers()
    const killed = new Set<number>()
    let exit: Awaited<ServerProcess['exited']> | undefined
    void server.exited.then((value) => {
      exit = value
    })
    // kill every worker as soon as it listens, until the primary stops restarting them
    while (exit === undefined && killed.size < 12) {
      const target = await waitFor(
        () => {
          if (exit !== undefined) return null
          const next = logLines(server)
            .filter((line) => line.msg.startsWith('Server listening at'))
            .map((line) => line.pid)
            .find((pid) => !killed.has(pid) && alive(pid))
          return next
        },
        'a worker to kill',
        30_000,
        50,
      )
      if (target === null) break
      killed.add(target)
      process.kill(target, 'SIGKILL')
    }
    expect(await server.waitForExit(20_000)).toMatchObject({ code: 1, signal: null })
    // five deaths in a row within 10 s of their start, and then none left listening
    expect(killed.size).toBeGreaterThanOrEqual(5)
    expect(killed.size).toBeLessThanOrEqual(8)
    expect(logLines(server)).toContainEqual(
      expect.objectContaining({ msg: 'workers keep dying soon after they start; giving up' }),
    )
    expect(childPids(server)).toEqual([])
  })
})
