import { readFileSync, readlinkSync } from 'node:fs'
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
  /** The holder's host name, for the message. */
  host?: string
  /**
   * Where the holder's pid means something: this boot of this machine and the holder's pid
   * namespace (Linux). Two containers may share a host name (host networking, one pod) and not
   * their pids; undefined where it cannot be read.
   */
  processSpace?: string
  url?: string
  command: string
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    const where = holder?.host ? ` on ${holder.host}` : ''
    const who = holder
      ? `a Tessera ${holder.command} (pid ${holder.pid}${where}${holder.url ? `, ${holder.url}` : ''})`
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

/**
 * Takes the data dir's lock, or throws DataDirLockedError.
 *
 * A holder that died without releasing (a crash, SIGKILL, the OOM killer) leaves a lock that looks
 * alive until its mtime is 10 s old, so a restart at once (systemd, a supervisor) would be refused.
 * When the holder's pid is gone from the process space it ran in (the same boot, the same pid
 * namespace), its lock is taken over at once. The whole acquisition (the lock, that look at the
 * holder, the holder's info) happens under a second, short-lived lock: a process in the middle of
 * taking a free lock, its info not yet written, is never mistaken for a dead holder.
 */
export async function lockDataDir(
  dataDir: string,
  holder: Omit<LockHolder, 'pid' | 'host' | 'processSpace'>,
  onCompromised: (error: Error) => void,
): Promise<DataDirLock> {
  // owner only: PGlite writes its files world-readable and -writable (mode 0666), and they hold
  // password hashes; a folder others cannot enter keeps them out
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const lockPath = join(dataDir, 'tessera.lock')
  const infoPath = join(dataDir, 'tessera.lock.json')
  const refused = async () => new DataDirLockedError(dataDir, await readHolder(infoPath))
  // read once: where this process's pids mean something, for the holder's info and for judging it
  const here = processSpace()

  // proper-lockfile keeps its locks by the locked path: this one's must not be the data dir's.
  // Held for milliseconds; processes starting together queue for it
  const acquirePath = `${lockPath}.acquire`
  let releaseAcquire: () => Promise<void>
  try {
    releaseAcquire = await lockfile.lock(acquirePath, {
      lockfilePath: acquirePath,
      realpath: false,
      stale: STALE_MS,
      retries: { retries: 20, minTimeout: 20, maxTimeout: 250 },
      // held too briefly to be kept fresh; losing it changes nothing once the data dir's is ours
      onCompromised: () => {},
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw await refused()
    throw error
  }

  let releaseLock: () => Promise<void>
  try {
    // an atomic mkdir, kept fresh by an mtime update; stale after 10 s of silence
    const lock = () =>
      lockfile.lock(dataDir, {
        lockfilePath: lockPath,
        realpath: false,
        stale: STALE_MS,
        update: STALE_MS / 4,
        onCompromised,
      })
    try {
      releaseLock = await lock()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
      const current = await readHolder(infoPath)
      if (!isDead(current, here)) throw new DataDirLockedError(dataDir, current)
      await rm(infoPath, { force: true })
      await rm(lockPath, { recursive: true, force: true })
      releaseLock = await lock().catch(async (again: NodeJS.ErrnoException) => {
        throw again.code === 'ELOCKED' ? await refused() : again
      })
    }
    const info: LockHolder = { pid: process.pid, host: hostname(), processSpace: here, ...holder }
    await writeFile(infoPath, JSON.stringify(info))
  } finally {
    await releaseAcquire().catch(() => {})
  }
  return {
    async release() {
      await rm(infoPath, { force: true })
      await releaseLock()
    },
  }
}

/** This boot and this process's pid namespace (Linux), or undefined where /proc cannot tell. */
export function processSpace(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    const namespace = readlinkSync('/proc/self/ns/pid')
    return boot && namespace ? `${boot}/${namespace}` : undefined
  } catch {
    return undefined
  }
}

/**
 * The holder ran in this process space (`here`) and no process has its pid any more. Anything
 * unknown (no info, info from an earlier version, another machine or container, a pid that lives)
 * is not dead.
 */
function isDead(holder: LockHolder | undefined, here: string | undefined): boolean {
  if (!holder || here === undefined || holder.processSpace !== here || holder.pid === process.pid)
    return false
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
