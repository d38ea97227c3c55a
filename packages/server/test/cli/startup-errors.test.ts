import { writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { TEST_DATABASE_URL } from '../helpers/database.js'
import { cleanupProcesses, freePort, preparedDataDir, spawnCli, tempDir } from '../helpers/process.js'

afterEach(cleanupProcesses)

/** One line on stderr, no stack trace, exit code 1. */
function expectOneLine(result: { code: number | null; stderr: string }, line: string | RegExp) {
  expect(result.code).toBe(1)
  expect(result.stderr.endsWith('\n')).toBe(true)
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1)
  if (typeof line === 'string') expect(result.stderr).toBe(`${line}\n`)
  else expect(result.stderr).toMatch(line)
  expect(result.stderr).not.toMatch(/\n\s+at /)
}

describe('start-up errors are one line that names what to change', () => {
  it('says that the port is in use, naming PORT and HOST', async () => {
    const port = await freePort()
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve))
    try {
      const result = await runCli(['serve'], {
        TESSERA_DATA_DIR: await preparedDataDir(),
        PORT: String(port),
        HOST: '127.0.0.1',
      })
      expectOneLine(
        result,
        `tessera: 127.0.0.1:${port} is already in use: stop the other process, or set PORT (or HOST) to listen elsewhere.`,
      )
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it('says that PostgreSQL refused the connection, with DATABASE_URL and its password masked', async () => {
    const port = await freePort()
    const result = await runCli(['serve'], {
      DATABASE_URL: `postgres://app:s3cret-pw@127.0.0.1:${port}/tessera`,
    })
    expectOneLine(
      result,
      `tessera: cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused ` +
        `(DATABASE_URL=postgres://app:****@127.0.0.1:${port}/tessera). Is PostgreSQL running there? Fix DATABASE_URL otherwise.`,
    )
    expect(result.stderr).not.toContain('s3cret-pw')
  })

  it('says that the data dir cannot be written, naming TESSERA_DATA_DIR', async () => {
    const file = join(await tempDir(), 'a-file')
    await writeFile(file, 'not a directory')
    const dir = join(file, 'data')
    const result = await runCli(['serve'], { TESSERA_DATA_DIR: dir })
    expectOneLine(
      result,
      new RegExp(
        `^tessera: cannot write the data dir ${dir} \\(TESSERA_DATA_DIR\\): .* Choose a writable directory with TESSERA_DATA_DIR\\.\\n$`,
      ),
    )
  })

  it('says that a command is unknown, and exits 2', async () => {
    // through the real binary: the exit code is the process's
    const result = await spawnCli(['frobnicate'], {})
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('tessera: unknown command "frobnicate". Run tessera help for the commands.\n')
  })

  describe.skipIf(!TEST_DATABASE_URL)('on a PostgreSQL server', () => {
    const base = new URL(TEST_DATABASE_URL ?? 'postgres://localhost/x')
    const at = `${base.hostname}:${base.port || '5432'}`

    it('says that the database does not exist, and how to create it', async () => {
      const url = new URL(base.href)
      url.pathname = '/tessera_missing_db'
      const result = await runCli(['serve'], { DATABASE_URL: url.href })
      expectOneLine(
        result,
        `tessera: database "tessera_missing_db" does not exist on PostgreSQL at ${at} (DATABASE_URL=${url.href}): ` +
          'create it (createdb tessera_missing_db) or fix DATABASE_URL.',
      )
    })

    it('says that PostgreSQL refused the user', async () => {
      const url = new URL(base.href)
      url.username = 'tessera_no_such_role'
      url.password = 'hunter2'
      const result = await runCli(['keys', 'list'], { DATABASE_URL: url.href })
      expectOneLine(
        result,
        /^tessera: PostgreSQL refused (the password of )?user "tessera_no_such_role" \(DATABASE_URL=postgres:\/\/tessera_no_such_role:\*\*\*\*@/,
      )
      expect(result.stderr).not.toContain('hunter2')
    })
  })
})
