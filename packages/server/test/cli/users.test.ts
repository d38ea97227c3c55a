import { decodeJwt } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli, startServerInProcess, stopInProcessServers } from '../helpers/cli.js'
import { cleanupProcesses, login, preparedDataDir, spawnCli } from '../helpers/process.js'

const PASSWORD = 'correct horse battery staple'

afterEach(async () => {
  await stopInProcessServers()
  await cleanupProcesses()
})

const rolesOf = (accessToken: string): unknown => decodeJwt(accessToken).roles

describe('tessera users (no server running)', () => {
  it('creates a user with the password from stdin and the given roles, who can then log in', async () => {
    const dir = await preparedDataDir()
    const env = { TESSERA_DATA_DIR: dir }
    // through the real binary, with the password on a piped stdin
    const created = await spawnCli(
      ['users', 'create', '--email', 'admin@example.com', '--role', 'admin', '--name', 'Ada'],
      env,
      `${PASSWORD}\n`,
    )
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    expect(created.stdout).toMatch(/^Created admin@example\.com \([0-9a-f-]{36}\) with roles admin\n$/)
    // the password is never echoed
    expect(created.stdout + created.stderr).not.toContain(PASSWORD)

    const server = await startServerInProcess(env)
    const loggedIn = await login(server.url, 'admin@example.com', PASSWORD)
    expect(loggedIn.status).toBe(200)
    expect(rolesOf(loggedIn.body.accessToken)).toContain('admin')
    expect(loggedIn.body.user).toMatchObject({ email: 'admin@example.com', name: 'Ada' })
  })

  it('refuses a password that is too short, a duplicate email and a --password option', async () => {
    const dir = await preparedDataDir()
    const env = { TESSERA_DATA_DIR: dir }

    const short = await runCli(['users', 'create', '--email', 'short@example.com'], env, 'short\n')
    expect(short.code).not.toBe(0)
    expect(short.stderr).toMatch(/^tessera: .*password: must be 8 to 256 characters\n$/)

    expect((await runCli(['users', 'create', '--email', 'dup@example.com'], env, `${PASSWORD}\n`)).code).toBe(
      0,
    )
    // the same address, differently cased
    const duplicate = await runCli(['users', 'create', '--email', 'DUP@example.com'], env, `${PASSWORD}\n`)
    expect(duplicate.code).not.toBe(0)
    expect(duplicate.stderr).toMatch(/^tessera: An account with this email already exists\.\n$/)

    // a password on the command line would land in `ps` and the shell history
    const option = await runCli(
      ['users', 'create', '--email', 'opt@example.com', '--password', PASSWORD],
      env,
      `${PASSWORD}\n`,
    )
    expect(option.code).toBe(2)
    expect(option.stderr).toContain("tessera: Unknown option '--password'")
    expect(option.stderr).toContain('the password is read from a prompt or stdin')
    expect(option.stderr).not.toMatch(/\n\s+at /)
    expect(option.stdout).not.toContain('Created')
  })

  it('changes roles with users roles --add and --remove, seen in the next login', async () => {
    const dir = await preparedDataDir()
    const env = { TESSERA_DATA_DIR: dir }
    expect((await runCli(['users', 'create', '--email', 'ops@example.com'], env, `${PASSWORD}\n`)).code).toBe(
      0,
    )

    const changed = await runCli(
      [
        'users',
        'roles',
        '--email',
        'OPS@example.com',
        '--add',
        'ops',
        '--add',
        'auditor',
        '--remove',
        'user',
      ],
      env,
    )
    expect(changed.stderr).toBe('')
    expect(changed.code).toBe(0)
    expect(changed.stdout).toBe('ops@example.com now has roles ops, auditor\n')

    const unknown = await runCli(['users', 'roles', '--email', 'nobody@example.com', '--add', 'ops'], env)
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toBe('tessera: No user with email nobody@example.com.\n')

    const badRole = await runCli(['users', 'roles', '--email', 'ops@example.com', '--add', 'no spaces'], env)
    expect(badRole.code).not.toBe(0)
    expect(badRole.stderr).toContain('"no spaces" is not a role name')

    // a REDIS_URL that cannot be reached (nothing listens on port 1) costs the running servers'
    // wake-up, not the change: they find it at their next read of the revocation feed
    const withoutRedis = await runCli(['users', 'roles', '--email', 'ops@example.com', '--add', 'billing'], {
      ...env,
      REDIS_URL: 'redis://127.0.0.1:1',
    })
    expect(withoutRedis.stderr).toBe('')
    expect(withoutRedis.code).toBe(0)
    expect(withoutRedis.stdout).toBe('ops@example.com now has roles ops, auditor, billing\n')

    const server = await startServerInProcess(env)
    const loggedIn = await login(server.url, 'ops@example.com', PASSWORD)
    expect(loggedIn.status).toBe(200)
    expect(rolesOf(loggedIn.body.accessToken)).toEqual(['ops', 'auditor', 'billing'])
  })

  it('explains a missing --email, subcommand or command with a usage message', async () => {
    // none of these opens the database, so they may run at once
    const env = { TESSERA_DATA_DIR: await preparedDataDir() }
    const [noEmail, unknownSub, unknownCommand] = await Promise.all([
      runCli(['users', 'create'], env, `${PASSWORD}\n`),
      runCli(['users', 'rename', '--email', 'a@example.com'], env),
      runCli(['frobnicate'], env),
    ])
    expect(noEmail.code).toBe(2)
    expect(noEmail.stderr).toContain('--email is required')
    expect(unknownSub.code).toBe(2)
    expect(unknownSub.stderr).toContain('Usage: tessera users create')
    expect(unknownCommand.code).toBe(2)
    expect(unknownCommand.stderr).toContain('unknown command "frobnicate"')
  })
})
