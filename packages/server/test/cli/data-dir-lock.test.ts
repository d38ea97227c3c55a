import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
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
})
