import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { cleanupProcesses, tempDir } from '../helpers/process.js'

afterEach(cleanupProcesses)

/** A data dir path that does not exist yet: a refused start must not create it. */
const untouchedDataDir = async () => join(await tempDir(), 'data')

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

describe('configuration errors stop the CLI before it does anything', () => {
  it('refuses to serve with PORT=abc, naming PORT on stderr', async () => {
    const dir = await untouchedDataDir()
    const result = await runCli(['serve'], { TESSERA_DATA_DIR: dir, PORT: 'abc' })
    expect(result.code).toBe(1)
    expect(result.stderr).toBe('tessera: PORT: expected a whole number from 0 to 65535, got "abc"\n')
    expect(result.stdout).toBe('')
    expect(await exists(dir)).toBe(false)
  })

  it('names every bad variable at once, one line each, before doing anything', async () => {
    const dir = await untouchedDataDir()
    const result = await runCli(['serve'], {
      TESSERA_DATA_DIR: dir,
      PORT: 'abc',
      TESSERA_ACCESS_TOKEN_TTL: 'soon',
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(
      'tessera: 2 configuration variables are invalid:\n' +
        '  PORT: expected a whole number from 0 to 65535, got "abc"\n' +
        '  TESSERA_ACCESS_TOKEN_TTL: expected a duration such as 900, 15m, 12h or 7d, got "soon"\n',
    )
    expect(result.stdout).toBe('')
    expect(await exists(dir)).toBe(false)
  })

  it('refuses to serve in production without TESSERA_SECRET, saying how to make one', async () => {
    const dir = await untouchedDataDir()
    const result = await runCli(['serve'], {
      TESSERA_DATA_DIR: dir,
      NODE_ENV: 'production',
      TESSERA_PUBLIC_URL: 'https://auth.example.com',
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^tessera: TESSERA_SECRET: is required in production: .*openssl rand/)
    expect(result.stderr).not.toMatch(/\n\s+at /)
    expect(await exists(dir)).toBe(false)
  })

  it('refuses other commands on a bad configuration too (DATABASE_URL=mysql://x for keys list)', async () => {
    const dir = await untouchedDataDir()
    const result = await runCli(['keys', 'list'], { TESSERA_DATA_DIR: dir, DATABASE_URL: 'mysql://x' })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^tessera: DATABASE_URL: expected postgres:\/\//)
    expect(await exists(dir)).toBe(false)
  })

  it('still shows the help whatever the configuration', async () => {
    const result = await runCli(['help'], { PORT: 'abc' })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('Usage: tessera <command>')
    expect(result.stdout).toContain('users create --email E')
  })
})
