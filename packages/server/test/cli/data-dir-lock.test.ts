import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDirLockedError, lockDataDir, processSpace } from '../../src/data-dir-lock.js'

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
        `in ${dir} is in use by a Tessera serve (pid ${process.pid} on ${hostname()}, http://localhost:3000)`,
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
    // above the largest pid Linux hands out (pid_max is at most 2^22): no process has it
    const DEAD_PID = 4_194_305
    const here = processSpace()

    it.skipIf(here === undefined)(
      'is taken over at once when its pid is gone from the process space it ran in',
      async () => {
        const dir = join(root, 'data')
        await leftBehind(dir, { pid: DEAD_PID, host: hostname(), processSpace: here })
        const lock = await lockDataDir(dir, { command: 'serve' }, noCompromise)
        try {
          const info = JSON.parse(await readFile(join(dir, 'tessera.lock.json'), 'utf8'))
          expect(info).toEqual({ pid: process.pid, host: hostname(), processSpace: here, command: 'serve' })
          // and the short-lived second lock is gone again
          expect((await readdir(dir)).sort()).toEqual(['tessera.lock', 'tessera.lock.json'])
        } finally {
          await lock.release()
        }
      },
    )

    it.skipIf(here === undefined)(
      'is not taken from a process that has just taken a free lock and not yet written its info',
      async () => {
        // another process in the middle of lockDataDir: it holds the short-lived second lock, has
        // made the lock, and the info beside it is still the one a crashed holder left
        const dir = join(root, 'data')
        await leftBehind(dir, { pid: DEAD_PID, host: hostname(), processSpace: here })
        await mkdir(join(dir, 'tessera.lock.acquire'))
        const attempt = lockDataDir(dir, { command: 'migrate' }, noCompromise).catch((e: unknown) => e)
        // it finishes: its info, then the second lock released (a living pid: this test's parent)
        await new Promise((resolve) => setTimeout(resolve, 100))
        await writeFile(
          join(dir, 'tessera.lock.json'),
          JSON.stringify({ pid: process.ppid, host: hostname(), processSpace: here, command: 'serve' }),
        )
        await rm(join(dir, 'tessera.lock.acquire'), { recursive: true })
        const error = await attempt
        expect(error).toBeInstanceOf(DataDirLockedError)
        expect((error as DataDirLockedError).holder).toMatchObject({ pid: process.ppid })
      },
    )

    it('is not taken over while its pid lives, from another process space, or without one', async () => {
      const cases: [string, Record<string, unknown>][] = [
        // the pid of a living process (this test's parent) in this process space
        ['alive', { pid: process.ppid, host: hostname(), processSpace: here }],
        // another container with the same host name (host networking, one pod): its pids are not ours
        ['another space', { pid: DEAD_PID, host: hostname(), processSpace: 'another-boot/pid:[1]' }],
        // written by a Tessera that did not record its process space
        ['no space', { pid: DEAD_PID, host: hostname() }],
      ]
      for (const [name, holder] of cases) {
        const dir = join(root, name.replace(/ /g, '-'))
        await leftBehind(dir, holder)
        const error = await lockDataDir(dir, { command: 'serve' }, noCompromise).catch((e: unknown) => e)
        expect(error, name).toBeInstanceOf(DataDirLockedError)
        expect((error as DataDirLockedError).holder, name).toMatchObject(holder)
        expect((error as Error).message, name).toContain(`(pid ${holder.pid} on ${hostname()})`)
      }
    })
  })
})
