import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDirLockedError, lockDataDir } from '../../src/data-dir-lock.js'

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-lock-'))
})
afterEach(() => rm(root, { recursive: true, force: true }))

const noCompromise = (error: Error) => {
  throw error
}

describe('lockDataDir', () => {
  it('creates a missing data dir that only its owner may enter', async () => {
    const dir = join(root, 'nested', 'data')
    const lock = await lockDataDir(dir, { command: 'test' }, noCompromise)
    try {
      expect((await stat(dir)).mode & 0o777).toBe(0o700)
    } finally {
      await lock.release()
    }
  })

  it('refuses a second holder, naming the dir and the first holder', async () => {
    const dir = join(root, 'data')
    const lock = await lockDataDir(dir, { command: 'serve', url: 'http://localhost:3000' }, noCompromise)
    try {
      const error = await lockDataDir(dir, { command: 'migrate' }, noCompromise).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DataDirLockedError)
      expect(error).toMatchObject({
        dataDir: dir,
        holder: { pid: process.pid, command: 'serve', url: 'http://localhost:3000' },
      })
      expect((error as Error).message).toContain(
        `in ${dir} is in use by a Tessera serve (pid ${process.pid}, http://localhost:3000)`,
      )
    } finally {
      await lock.release()
    }
  })

  it('frees the dir on release, leaving no lock files behind', async () => {
    const dir = join(root, 'data')
    await (await lockDataDir(dir, { command: 'test' }, noCompromise)).release()
    expect(await readdir(dir)).toEqual([])
    const again = await lockDataDir(dir, { command: 'test' }, noCompromise)
    await again.release()
  })

  describe('a lock left by a holder that died (a crash, SIGKILL)', () => {
    /** The lock files as a holder leaves them when it dies: a fresh lock, its info beside it. */
    async function leftBehind(dir: string, holder: Record<string, unknown>) {
      await mkdir(join(dir, 'tessera.lock'), { recursive: true })
      await writeFile(join(dir, 'tessera.lock.json'), JSON.stringify({ command: 'serve', ...holder }))
    }
    // a process that ran and exited: its pid is free (until the system hands it out again)
    const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid as number

    it('is taken over at once when the holder ran on this host and its pid is gone', async () => {
      const dir = join(root, 'data')
      await leftBehind(dir, { pid: deadPid(), host: hostname() })
      const lock = await lockDataDir(dir, { command: 'serve' }, noCompromise)
      try {
        const info = JSON.parse(await readFile(join(dir, 'tessera.lock.json'), 'utf8'))
        expect(info).toMatchObject({ pid: process.pid, host: hostname(), command: 'serve' })
        // and the second lock, under which one process at a time takes over, is gone again
        expect(await readdir(dir)).toEqual(['tessera.lock', 'tessera.lock.json'])
      } finally {
        await lock.release()
      }
    })

    it('is not taken over while its pid lives, on another host, without a host, or while another takes over', async () => {
      const cases: [string, Record<string, unknown>, boolean?][] = [
        // the pid of a living process (this test's parent) on this host
        ['alive', { pid: process.ppid, host: hostname() }],
        // a pid means nothing on another host (a shared volume, another container)
        ['another host', { pid: deadPid(), host: `not-${hostname()}` }],
        // written by a Tessera that did not record its host
        ['no host', { pid: deadPid() }],
        // another process holds the takeover lock: it is taking over now
        ['taking over', { pid: deadPid(), host: hostname() }, true],
      ]
      for (const [name, holder, takingOver] of cases) {
        const dir = join(root, name.replace(/ /g, '-'))
        await leftBehind(dir, holder)
        if (takingOver) await mkdir(join(dir, 'tessera.lock.takeover'))
        const error = await lockDataDir(dir, { command: 'serve' }, noCompromise).catch((e: unknown) => e)
        expect(error, name).toBeInstanceOf(DataDirLockedError)
        expect((error as DataDirLockedError).holder, name).toMatchObject(holder)
      }
    })
  })
})
