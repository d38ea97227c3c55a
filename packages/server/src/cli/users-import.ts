import { randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { createInterface } from 'node:readline'
import { finished } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { parse as parseCsv } from 'csv-parse'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import {
  type CheckedRow,
  checkImportRow,
  csvRecordToRow,
  IMPORT_FIELDS,
  type RejectedRow,
} from '../flows/import-row.js'
import { createUserTransferStore, type ImportUser, type UserTransferStore } from '../store/user-transfer.js'
import { type CliIo, usage } from './io.js'
import { progressOn } from './progress.js'
import { withStores } from './with-stores.js'

export const IMPORT_USAGE =
  'Usage: tessera users import FILE [--format jsonl|csv] [--dry-run] [--update] [--rejects FILE]\n'

/** Exit code of an import that finished but refused some rows (2 is a usage error). */
export const SOME_ROWS_REJECTED = 3

/** Rows per statement and per transaction: large enough to be quick, small enough to keep memory flat. */
const BATCH_ROWS = 1000
/** A JSONL line (or CSV record) longer than this is refused, not parsed. */
const MAX_LINE_CHARS = 64 * 1024

const FORMATS = ['jsonl', 'csv'] as const
type Format = (typeof FORMATS)[number]

interface Counts {
  imported: number
  updated: number
  unchanged: number
  skipped: number
  rejected: number
  /** Dry run: rows that would be written, and of them those whose address an account holds already. */
  valid: number
  existing: number
}

/** A parsed row of the file: a user to write or a reason to refuse it. */
type FileRow = CheckedRow

/**
 * `tessera users import FILE`: streams the file (constant memory, whatever its size), checks each
 * row, and writes batches of {@link BATCH_ROWS} in one statement and one transaction each.
 * Existing addresses are skipped, or updated with `--update`; so a run cut off halfway is simply
 * run again. Refused rows go to the rejects file; the exit code is {@link SOME_ROWS_REJECTED}
 * when there were any.
 */
export async function importUsers(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      format: { type: 'string' },
      'dry-run': { type: 'boolean' },
      update: { type: 'boolean' },
      rejects: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  const [file, ...extra] = positionals
  if (file === undefined || extra.length > 0) return usage(io, `give one FILE\n${IMPORT_USAGE}`)
  const format = values.format ?? formatOf(file)
  if (!FORMATS.includes(format as Format))
    return usage(
      io,
      `cannot tell the format of ${file}: give --format jsonl or --format csv (or name it .jsonl or .csv)\n${IMPORT_USAGE}`,
    )
  let size: number
  try {
    size = (await stat(file)).size
  } catch (error) {
    io.stderr.write(`tessera: cannot read ${file}: ${(error as Error).message}\n`)
    return 1
  }
  const rejectsPath = values.rejects ?? `${file}.rejects.jsonl`
  const dryRun = values['dry-run'] === true
  const update = values.update === true
  // a rejects file left by an earlier run would describe rows this run may have taken
  await rm(rejectsPath, { force: true })

  let counts: Counts | undefined
  let seconds = 0
  let unreadable: string | undefined
  const code = await withStores(config, 'users import', async (_stores, _migrations, db) => {
    const started = performance.now()
    const rejects = rejectsFile(rejectsPath)
    try {
      counts = await runImport({
        rows: readRows(file, format as Format),
        store: createUserTransferStore(db),
        options: { dryRun, update, accessTokenTtl: config.accessTokenTtl, runMarker: systemClock.now() },
        progress: progressOn(io.stderr, size, dryRun ? 'checking' : 'importing'),
        reject: rejects.write,
      })
    } catch (error) {
      // a file Tessera cannot read as a whole (a CSV header it does not know): what was written stays
      if (!(error instanceof UnreadableFileError)) throw error
      unreadable = error.message
    } finally {
      await rejects.close()
    }
    seconds = (performance.now() - started) / 1000
  })
  if (unreadable !== undefined) {
    io.stderr.write(`tessera: ${unreadable}\n`)
    return 1
  }
  if (!counts) return code
  const rows =
    counts.imported + counts.updated + counts.unchanged + counts.skipped + counts.valid + counts.rejected
  const rate = Math.round(rows / Math.max(seconds, 0.001))
  io.stdout.write(
    dryRun
      ? `Dry run, nothing written: ${counts.valid - counts.existing} new, ${counts.existing} existing ` +
          `(${update ? 'updated where the row differs' : 'skipped'}), ${counts.rejected} rejected, ` +
          `in ${seconds.toFixed(1)} s (${rate} rows/s)\n`
      : `Imported ${counts.imported}, updated ${counts.updated}, skipped ${counts.skipped + counts.unchanged}, ` +
          `rejected ${counts.rejected}, in ${seconds.toFixed(1)} s (${rate} rows/s)\n`,
  )
  if (counts.rejected > 0) {
    io.stderr.write(
      `${counts.rejected} rows were rejected: each is in ${rejectsPath} with its line and reason.\n`,
    )
    return SOME_ROWS_REJECTED
  }
  return code
}

const formatOf = (file: string): string | undefined =>
  ({ '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv' })[extname(file).toLowerCase()]

interface RunImportOptions {
  dryRun: boolean
  update: boolean
  accessTokenTtl: number
  runMarker: Date
}

async function runImport(run: {
  rows: AsyncIterable<{ row: FileRow; bytes: number }>
  store: UserTransferStore
  options: RunImportOptions
  progress: ReturnType<typeof progressOn>
  reject: (rejected: RejectedRow) => Promise<void>
}): Promise<Counts> {
  const { store, options, progress } = run
  const counts: Counts = {
    imported: 0,
    updated: 0,
    unchanged: 0,
    skipped: 0,
    rejected: 0,
    valid: 0,
    existing: 0,
  }
  const reject = async (rejected: RejectedRow) => {
    counts.rejected++
    await run.reject(rejected)
  }
  let batch: ImportUser[] = []
  // the lines of the batch by address: a second row for one address in a batch is refused here
  let lines = new Map<string, number>()
  const write = async (rows: ImportUser[]) => {
    if (options.dryRun) {
      counts.valid += rows.length
      counts.existing += (await store.existingKeys(rows.map((user) => user.emailNormalized))).size
      return
    }
    const outcomes = await store.importBatch(rows, options)
    for (const user of rows) {
      const outcome = outcomes.get(user.line)
      if (outcome === 'duplicate')
        await reject({ line: user.line, reason: 'the email appears earlier in the file', email: user.email })
      else if (outcome === 'unproven')
        await reject({
          line: user.line,
          reason:
            'an account with this email exists here, unverified and with a password of its own: --update does not give it roles or a verified address (verify or delete that account first)',
          email: user.email,
        })
      else if (outcome !== undefined) counts[outcome]++
    }
  }
  // one batch in the database while the next is read and checked: the two cores work at once.
  // Never two in the database: a batch must see the one before committed (the run marker)
  let inFlight: Promise<void> = Promise.resolve()
  const flush = async () => {
    if (batch.length === 0) return
    const rows = batch
    batch = []
    lines = new Map()
    await inFlight
    inFlight = write(rows)
    // awaited at the next flush or the end; until then its failure must not count as unhandled
    inFlight.catch(() => {})
  }
  let done = 0
  for await (const { row, bytes } of run.rows) {
    done++
    if (!row.ok) {
      await reject({
        line: row.line,
        reason: row.reason,
        ...(row.email === undefined ? {} : { email: row.email }),
      })
    } else {
      const first = lines.get(row.user.emailNormalized)
      if (first !== undefined) {
        await reject({
          line: row.user.line,
          reason: `the email appears earlier in the file, on line ${first}`,
          email: row.user.email,
        })
      } else {
        lines.set(row.user.emailNormalized, row.user.line)
        batch.push(row.user)
        if (batch.length >= BATCH_ROWS) await flush()
      }
    }
    progress.update(done, bytes)
  }
  await flush()
  await inFlight
  progress.stop()
  return counts
}

/** Every non-blank row of the file in order, checked, with the bytes read so far. */
function readRows(file: string, format: Format): AsyncIterable<{ row: FileRow; bytes: number }> {
  return format === 'csv' ? readCsv(file) : readJsonl(file)
}

async function* readJsonl(file: string): AsyncIterable<{ row: FileRow; bytes: number }> {
  const input = createReadStream(file)
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  let line = 0
  for await (const text of lines) {
    line++
    if (text.trim() === '') continue
    yield { row: parseJsonLine(text, line), bytes: input.bytesRead }
  }
}

function parseJsonLine(text: string, line: number): FileRow {
  if (text.length > MAX_LINE_CHARS)
    return { ok: false, line, reason: `line longer than ${MAX_LINE_CHARS} characters` }
  let raw: unknown
  try {
    // a byte-order mark before the first row is no part of it
    raw = JSON.parse(line === 1 ? text.replace(/^\uFEFF/, '') : text)
  } catch {
    return { ok: false, line, reason: 'not valid JSON' }
  }
  return checkImportRow(raw, line, randomUUID)
}

async function* readCsv(file: string): AsyncIterable<{ row: FileRow; bytes: number }> {
  const input = createReadStream(file)
  const skipped: FileRow[] = []
  const parser = input.pipe(
    parseCsv({
      bom: true,
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
      max_record_size: MAX_LINE_CHARS,
      skip_records_with_error: true,
      on_skip: (error) => {
        skipped.push({
          ok: false,
          line: Number(error?.lines ?? 0),
          reason: `not valid CSV: ${error?.message ?? 'unreadable'}`,
        })
        return undefined
      },
    }),
  )
  let header: string[] | undefined
  for await (const { record, info } of parser as AsyncIterable<{
    record: string[]
    info: { lines: number }
  }>) {
    for (const row of skipped.splice(0)) yield { row, bytes: input.bytesRead }
    if (header === undefined) {
      header = record.map((cell) => cell.trim())
      const unknown = header.find((name) => !(IMPORT_FIELDS as readonly string[]).includes(name))
      if (unknown !== undefined || !header.includes('email'))
        throw new UnreadableFileError(
          `the CSV header must name the columns (${IMPORT_FIELDS.join(', ')}) and include email; ` +
            `${unknown === undefined ? 'email is missing' : `"${unknown}" is not one of them`}`,
        )
      continue
    }
    yield { row: csvRow(header, record, info.lines), bytes: input.bytesRead }
  }
  for (const row of skipped.splice(0)) yield { row, bytes: input.bytesRead }
}

function csvRow(header: string[], record: string[], line: number): FileRow {
  if (record.length !== header.length)
    return { ok: false, line, reason: `${record.length} columns where the header has ${header.length}` }
  const cells = Object.fromEntries(header.map((name, index) => [name, record[index] ?? '']))
  const row = csvRecordToRow(cells)
  if (typeof row === 'string')
    return { ok: false, line, reason: row, ...(cells.email ? { email: cells.email } : {}) }
  return checkImportRow(row, line, randomUUID)
}

/** The file cannot be imported at all: said in one line, not with a stack trace. */
class UnreadableFileError extends Error {}

/** The rejects file, created at the first rejected row (none, no file), one JSON object a line. */
function rejectsFile(path: string) {
  let out: WriteStream | undefined
  return {
    async write(rejected: RejectedRow) {
      out ??= createWriteStream(path, { flags: 'w' })
      if (!out.write(`${JSON.stringify(rejected)}\n`))
        await new Promise<void>((resolve) => out?.once('drain', () => resolve()))
    },
    async close() {
      if (!out) return
      out.end()
      await finished(out)
    },
  }
}
