/**
 * `tessera users import` of 1,000,000 users into PostgreSQL (issue 20: at most 5 minutes, RSS flat),
 * against a plain COPY of the same rows into the same table as the baseline of the same run.
 *
 *   npm run bench:import [-- --no-build] [-- --rows 1000000] [-- --rerun]
 *
 * 1. Writes the rows as JSONL (bcrypt-shaped hashes: syntactically valid, not computed, since the
 *    import checks the format and never hashes) and the same rows as the CSV COPY reads.
 * 2. Creates a database on 127.0.0.1 (BENCH_DATABASE_URL's server), runs `node dist/cli.js users
 *    import FILE` in it, sampling the child's RSS every second; with --rerun, runs it again (every
 *    row skipped: the cost of resuming after an interruption).
 * 3. Creates a second database, migrates it (`tessera migrate`), and times `psql \copy` of the
 *    same rows into `users` (the same indexes: primary key and the unique mailbox key).
 * Prints rows/s, seconds and peak RSS of the import, its RSS over time, the COPY's rows/s and the
 * ratio, and the load average; writes bench/results/import-latest.json. Both databases and the
 * files are removed at the end.
 */
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildWorkspaces } from './lib/build.js'
import { BENCH_DIR, killAllChildren, rssMb, startNode, TESSERA_CLI } from './lib/children.js'
import { currentLoad, describeMachine } from './lib/machine.js'
import { createDatabase, dropCreatedDatabases, postgresVersion, queryNumber } from './lib/postgres.js'
import { TESSERA_ENV } from './lib/tessera-serve.js'

const { values: flags } = parseArgs({
  options: {
    'no-build': { type: 'boolean', default: false },
    rows: { type: 'string', default: '1000000' },
    rerun: { type: 'boolean', default: false },
  },
})
const ROWS = Number(flags.rows)
if (!Number.isInteger(ROWS) || ROWS <= 0) throw new Error('--rows must be a positive integer')
const log = (message: string) => process.stderr.write(`${message}\n`)

const tmp = await mkdtemp(join(tmpdir(), 'tessera-bench-import-'))
const cleanup = async () => {
  killAllChildren()
  await dropCreatedDatabases()
  await rm(tmp, { recursive: true, force: true })
}
const abort = (why: string, code: number) => {
  log(`\n${why}: cleaning up`)
  cleanup().finally(() => process.exit(code))
}
process.once('SIGINT', () => abort('interrupted', 130))
process.once('SIGTERM', () => abort('terminated', 143))
// 1,000,000 rows are due within 5 minutes; a hung step cannot keep databases around
setTimeout(() => abort('the run took too long', 1), 20 * 60_000).unref()

const machine = describeMachine(await postgresVersion())
if (!flags['no-build'] && !(await buildWorkspaces(['@tessera/server'], log))) process.exit(1)

// bcrypt's base64 alphabet: a hash of the right shape, cost 10, without computing one
const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const fakeBcrypt = (): string => {
  const bytes = randomBytes(53)
  let text = '$2b$10$'
  for (const byte of bytes) text += BCRYPT_ALPHABET[byte & 63]
  return text
}

async function writeRows(jsonlPath: string, copyPath: string): Promise<number> {
  const jsonl = createWriteStream(jsonlPath)
  const copy = createWriteStream(copyPath)
  const at = new Date(Date.UTC(2024, 0, 1)).toISOString()
  const now = new Date().toISOString()
  let bytes = 0
  const CHUNK = 5000
  for (let start = 0; start < ROWS; start += CHUNK) {
    let lines = ''
    let csv = ''
    for (let index = start; index < Math.min(start + CHUNK, ROWS); index++) {
      const email = `user${index}@example.com`
      const hash = fakeBcrypt()
      const name = `User ${index}`
      lines += `${JSON.stringify({ email, passwordHash: hash, name, roles: ['user'], emailVerified: true, createdAt: at })}\n`
      csv += `${randomUUID()},${email},${email},${name},${hash},{user},true,${at},${now}\n`
    }
    bytes += Buffer.byteLength(lines)
    if (!jsonl.write(lines)) await once(jsonl, 'drain')
    if (!copy.write(csv)) await once(copy, 'drain')
  }
  jsonl.end()
  copy.end()
  await Promise.all([once(jsonl, 'finish'), once(copy, 'finish')])
  return bytes
}

interface Sample {
  seconds: number
  rssMb: number
}

/** Runs `tessera users import` to its end, sampling its RSS every second. */
async function runImport(url: string, file: string) {
  const started = performance.now()
  const child = startNode([TESSERA_CLI, 'users', 'import', file, '--rejects', join(tmp, 'rejects.jsonl')], {
    env: { ...TESSERA_ENV, DATABASE_URL: url },
  })
  let stdout = ''
  child.process.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.process.stderr?.on('data', (chunk: Buffer) => log(`  | ${chunk.toString().trimEnd()}`))
  const samples: Sample[] = []
  const timer = setInterval(() => {
    rssMb(child.pid)
      .then((mb) => samples.push({ seconds: (performance.now() - started) / 1000, rssMb: mb }))
      .catch(() => {})
  }, 1000)
  const [code] = (await once(child.process, 'exit')) as [number | null]
  clearInterval(timer)
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`tessera users import exited with ${code}: ${child.output()}`)
  return { seconds, samples, summary: stdout.trim() }
}

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}: ${stderr}`)),
    )
  })
}

const rowsPerSecond = (seconds: number) => Math.round(ROWS / seconds)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

try {
  log(`writing ${ROWS.toLocaleString('en')} rows…`)
  const jsonlPath = join(tmp, 'users.jsonl')
  const copyPath = join(tmp, 'users-copy.csv')
  const fileBytes = await writeRows(jsonlPath, copyPath)
  log(`  ${(fileBytes / 2 ** 20).toFixed(0)} MiB of JSONL`)

  const target = await createDatabase('import')
  log('tessera users import…')
  const imported = await runImport(target.url, jsonlPath)
  const count = await queryNumber(target.url, 'select count(*) from users')
  if (count !== ROWS) throw new Error(`${count} users in the database, ${ROWS} expected`)
  let rerun: Awaited<ReturnType<typeof runImport>> | undefined
  if (flags.rerun) {
    log('tessera users import again (every row skipped)…')
    rerun = await runImport(target.url, jsonlPath)
  }
  await target.drop()

  const baseline = await createDatabase('copy')
  await run(process.execPath, [TESSERA_CLI, 'migrate'], { ...TESSERA_ENV, DATABASE_URL: baseline.url })
  log('psql \\copy of the same rows…')
  const copyStarted = performance.now()
  await run('psql', [
    baseline.url,
    '-v',
    'ON_ERROR_STOP=1',
    '-c',
    `\\copy users (id, email, email_normalized, name, password_hash, roles, email_verified, created_at, updated_at) from '${copyPath}' with (format csv)`,
  ])
  const copySeconds = (performance.now() - copyStarted) / 1000
  const copied = await queryNumber(baseline.url, 'select count(*) from users')
  if (copied !== ROWS) throw new Error(`${copied} rows copied, ${ROWS} expected`)
  await baseline.drop()

  const rss = imported.samples.map((sample) => sample.rssMb)
  const third = Math.max(1, Math.floor(rss.length / 3))
  const result = {
    rows: ROWS,
    fileMiB: Math.round(fileBytes / 2 ** 20),
    import: {
      seconds: Number(imported.seconds.toFixed(1)),
      rowsPerSecond: rowsPerSecond(imported.seconds),
      summary: imported.summary,
      peakRssMb: Math.round(Math.max(...rss)),
      medianRssFirstThirdMb: Math.round(median(rss.slice(0, third))),
      medianRssLastThirdMb: Math.round(median(rss.slice(-third))),
      rssEvery10s: imported.samples
        .filter((_, index) => index % 10 === 0)
        .map((sample) => [Math.round(sample.seconds), Math.round(sample.rssMb)]),
    },
    rerun: rerun && {
      seconds: Number(rerun.seconds.toFixed(1)),
      rowsPerSecond: rowsPerSecond(rerun.seconds),
      summary: rerun.summary,
      peakRssMb: Math.round(Math.max(...rerun.samples.map((sample) => sample.rssMb))),
    },
    copy: { seconds: Number(copySeconds.toFixed(1)), rowsPerSecond: rowsPerSecond(copySeconds) },
    importOverCopy: Number((copySeconds / imported.seconds).toFixed(3)),
    machine: { ...machine, loadAverage: { ...machine.loadAverage, end: currentLoad() } },
  }
  await mkdir(join(BENCH_DIR, 'results'), { recursive: true })
  await writeFile(join(BENCH_DIR, 'results', 'import-latest.json'), `${JSON.stringify(result, null, 2)}\n`)

  const line = (label: string, value: string) => log(`${label.padEnd(34)}${value}`)
  log('')
  line('rows', ROWS.toLocaleString('en'))
  line(
    'tessera users import',
    `${result.import.seconds} s, ${result.import.rowsPerSecond.toLocaleString('en')} rows/s (process start to exit)`,
  )
  line('  its own summary', imported.summary)
  line('  peak RSS', `${result.import.peakRssMb} MB`)
  line(
    '  median RSS, first / last third',
    `${result.import.medianRssFirstThirdMb} / ${result.import.medianRssLastThirdMb} MB`,
  )
  line('  RSS every 10 s (s: MB)', result.import.rssEvery10s.map(([s, mb]) => `${s}: ${mb}`).join(', '))
  if (result.rerun)
    line(
      'second run (all skipped)',
      `${result.rerun.seconds} s, ${result.rerun.rowsPerSecond.toLocaleString('en')} rows/s, peak RSS ${result.rerun.peakRssMb} MB`,
    )
  line(
    'psql \\copy (baseline)',
    `${result.copy.seconds} s, ${result.copy.rowsPerSecond.toLocaleString('en')} rows/s`,
  )
  line('import rows/s ÷ COPY rows/s', String(result.importOverCopy))
  line(
    'load average (1 min), start / end',
    `${machine.loadAverage.start.toFixed(1)} / ${currentLoad().toFixed(1)} on ${machine.cores} cores`,
  )
  line(
    'machine',
    `${machine.cpu}, Node ${machine.node}, PostgreSQL ${machine.postgres ?? '?'}, commit ${machine.commit ?? '?'}`,
  )
} finally {
  await cleanup()
}
