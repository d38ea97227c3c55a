import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import lockfile from 'proper-lockfile'

/**
 * PGlite takes no lock, and two processes on one data dir corrupt it silently. The process that
 * opens the embedded database holds this lock; a second server or a CLI command refuses to start.
 */
export interface DataDirLock {
  release(): Promise<void>
}

export interface LockHolder {
  pid: number
  url?: string
  command: string
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    const who = holder
      ? `a Tessera ${holder.command} (pid ${holder.pid}${holder.url ? `, ${holder.url}` : ''})`
      : 'another Tessera process'
    super(
      `The embedded database in ${dataDir} is in use by ${who}. PGlite allows one process at a time. ` +
        'Stop that process first, or run Tessera on PostgreSQL (DATABASE_URL=postgres://…) to run several ' +
        'servers and the CLI side by side. If no such process runs, the lock was left by a crash and frees itself within 10 seconds.',
    )
    this.name = 'DataDirLockedError'
  }
}

const STALE_MS = 10_000

export async function lockDataDir(
  dataDir: string,
  holder: Omit<LockHolder, 'pid'>,
  onCompromised: (error: Error) => void,
): Promise<DataDirLock> {
  // owner only: PGlite writes its files world-readable and -writable (mode 0666), and they hold
  // password hashes; a folder others cannot enter keeps them out
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const lockPath = join(dataDir, 'tessera.lock')
  const infoPath = join(dataDir, 'tessera.lock.json')
  let releaseLock: () => Promise<void>
  try {
    // proper-lockfile: an atomic mkdir, kept fresh by an mtime update; stale after 10 s of silence
    releaseLock = await lockfile.lock(dataDir, {
      lockfilePath: lockPath,
      realpath: false,
      stale: STALE_MS,
      update: STALE_MS / 4,
      onCompromised,
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
    throw new DataDirLockedError(dataDir, await readHolder(infoPath))
  }
  await writeFile(infoPath, JSON.stringify({ pid: process.pid, ...holder }))
  return {
    async release() {
      await rm(infoPath, { force: true })
      await releaseLock()
    },
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'))
    if (typeof parsed === 'object' && parsed !== null && 'pid' in parsed && typeof parsed.pid === 'number') {
      return parsed as LockHolder
    }
  } catch {
    // no info file, or one half written: the lock itself is what counts
  }
  return undefined
}
