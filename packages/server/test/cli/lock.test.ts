import { readdir } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import {
  cleanupProcesses,
  freePort,
  login,
  preparedDataDir,
  register,
  requestJson,
  spawnCli,
  startServerProcess,
} from '../helpers/process.js'

const PASSWORD = 'correct horse battery staple'

afterEach(cleanupProcesses)

/** What every refused command must say: whose dir, who holds it, and what to do. */
function expectLockedMessage(stderr: string, dataDir: string, serverPid: number): void {
  expect(stderr).toContain(`tessera: The embedded database in ${dataDir} is in use by a Tessera serve`)
  expect(stderr).toContain(`pid ${serverPid}`)
  expect(stderr).toContain('Stop that process first')
  expect(stderr).toContain('DATABASE_URL=postgres://')
  // a clean message, not a crash
  expect(stderr).not.toMatch(/\n\s+at /)
}

// the servers are processes of their own; the refused commands run in this one (the lock is per process)
describe('the data-dir lock of the embedded database', () => {
  it('refuses a second serve on the same data dir and leaves the first one serving', async () => {
    const dir = await preparedDataDir()
    const first = await startServerProcess({ TESSERA_DATA_DIR: dir })
    expect((await register(first.url, 'first@example.com', PASSWORD)).status).toBe(201)

    const second = await spawnCli(['serve'], { TESSERA_DATA_DIR: dir, PORT: String(await freePort()) })
    expect(second.code).toBe(1)
    expectLockedMessage(second.stderr, dir, first.proc.pid ?? 0)
    // nothing else: no listening banner, no warning about the development secret
    expect(second.stdout).toBe('')

    // the first server is unharmed: ready, and its data still there
    expect((await requestJson(`${first.url}/readyz`)).status).toBe(200)
    expect((await login(first.url, 'first@example.com', PASSWORD)).status).toBe(200)
  })

  it('refuses keys rotate, keys list, users create, users roles and migrate while a server holds the dir', async () => {
    const dir = await preparedDataDir()
    const server = await startServerProcess({ TESSERA_DATA_DIR: dir })
    expect((await register(server.url, 'holder@example.com', PASSWORD)).status).toBe(201)
    const kids = (await requestJson<{ keys: { kid: string }[] }>(`${server.url}/.well-known/jwks.json`)).body
      .keys
    const filesBefore = (await readdir(dir)).sort()
    const env = { TESSERA_DATA_DIR: dir }

    const pid = server.proc.pid ?? 0
    const refused = await Promise.all([
      runCli(['keys', 'rotate'], env),
      // refused before the password is asked for: stdin stays open, and the command still ends
      runCli(['users', 'create', '--email', 'new@example.com'], env, undefined, { keepStdinOpen: true }),
      runCli(['users', 'create', '--email', 'new@example.com'], env, `${PASSWORD}\n`),
      runCli(['users', 'roles', '--email', 'holder@example.com', '--add', 'admin'], env),
      runCli(['migrate'], env),
      runCli(['keys', 'list'], env),
    ])
    for (const result of refused) {
      expect(result.code).toBe(1)
      expectLockedMessage(result.stderr, dir, pid)
      expect(result.stdout).toBe('')
    }

    // none of them touched the database: no user, no key, no role, no new file
    expect((await login(server.url, 'new@example.com', PASSWORD)).status).toBe(401)
    const holder = await login(server.url, 'holder@example.com', PASSWORD)
    expect(holder.body.user?.roles).toEqual(['user'])
    expect(
      (await requestJson<{ keys: { kid: string }[] }>(`${server.url}/.well-known/jwks.json`)).body.keys,
    ).toEqual(kids)
    expect((await readdir(dir)).sort()).toEqual(filesBefore)
  })

  it('frees the data dir when the server stops, so the CLI can use it', async () => {
    const dir = await preparedDataDir()
    const server = await startServerProcess({ TESSERA_DATA_DIR: dir })
    expect(await server.stop()).toMatchObject({ code: 0 })
    expect(await readdir(dir)).not.toContain('tessera.lock')
    const list = await runCli(['keys', 'list'], { TESSERA_DATA_DIR: dir })
    expect(list.stderr).toBe('')
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/^\S+\s+RS256\s+active\s+created /)
  })
})
