import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
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
  /** The holder's host name: its pid means something only on the same host (and pid namespace). */
  host?: string
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
        'servers and the CLI side by side. If no such process runs, the lock was left by a crash and frees itself within 10 seconds ' +
        '(at once when the process that held it ran on this host).',
    )
    this.name = 'DataDirLockedError'
  }
}

const STALE_MS = 10_000

export async function lockDataDir(
  dataDir: string,
  holder: Omit<LockHolder, 'pid' | 'host'>,
  onCompromised: (error: Error) => void,
): Promise<DataDirLock> {
  // owner only: PGlite writes its files world-readable and -writable (mode 0666), and they hold
  // password hashes; a folder others cannot enter keeps them out
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const lockPath = join(dataDir, 'tessera.lock')
  const infoPath = join(dataDir, 'tessera.lock.json')
  // proper-lockfile: an atomic mkdir, kept fresh by an mtime update; stale after 10 s of silence
  const lock = () =>
    lockfile.lock(dataDir, {
      lockfilePath: lockPath,
      realpath: false,
      stale: STALE_MS,
      update: STALE_MS / 4,
      onCompromised,
    })
  let releaseLock: () => Promise<void>
  try {
    releaseLock = await lock()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
    const taken = await takeOverFromDeadHolder(lockPath, infoPath, lock)
    if (!taken) throw new DataDirLockedError(dataDir, await readHolder(infoPath))
    releaseLock = taken
  }
  await writeFile(infoPath, JSON.stringify({ pid: process.pid, host: hostname(), ...holder }))
  return {
    async release() {
      await rm(infoPath, { force: true })
      await releaseLock()
    },
  }
}

/**
 * A holder that died without releasing (a crash, SIGKILL, the OOM killer) leaves a lock that would
 * look alive until its mtime is 10 s old; a restart at once (systemd, a supervisor) would be
 * refused. When the holder ran on this host and its pid is gone, its lock is taken over now. One
 * process at a time does that, under a second lock, and looks at the holder again under it: two
 * servers restarted at once cannot both remove the dead lock and both hold the new one.
 */
async function takeOverFromDeadHolder(
  lockPath: string,
  infoPath: string,
  lock: () => Promise<() => Promise<void>>,
): Promise<(() => Promise<void>) | undefined> {
  if (!isDead(await readHolder(infoPath))) return undefined
  let releaseTakeover: () => Promise<void>
  try {
    // proper-lockfile keeps its locks by the locked path: this one's must not be the data dir's
    const takeoverPath = `${lockPath}.takeover`
    releaseTakeover = await lockfile.lock(takeoverPath, {
      lockfilePath: takeoverPath,
      realpath: false,
      stale: STALE_MS,
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return undefined
    throw error
  }
  try {
    // another process may have taken over and released the second lock since the first look
    if (!isDead(await readHolder(infoPath))) return undefined
    await rm(infoPath, { force: true })
    await rm(lockPath, { recursive: true, force: true })
    return await lock()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return undefined
    throw error
  } finally {
    await releaseTakeover()
  }
}

/** The holder ran on this host and no process has its pid any more. */
function isDead(holder: LockHolder | undefined): boolean {
  if (!holder || holder.host !== hostname() || holder.pid === process.pid) return false
  try {
    process.kill(holder.pid, 0)
    return false
  } catch (error) {
    // EPERM: a process with that pid lives (another user's): not ours to judge
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
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
