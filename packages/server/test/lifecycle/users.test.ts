import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { confirm } from '../../src/cli/confirm.js'
import type { AuthEvent } from '../../src/events.js'
import { deleteUser, disableUser, enableUser } from '../../src/flows/manage-users.js'
import { openDatabase } from '../../src/store/db.js'
import { runCli, startServerInProcess, stopInProcessServers } from '../helpers/cli.js'
import { freshPostgresUrl, TEST_DATABASE_URL } from '../helpers/database.js'
import {
  CLI_PATH,
  childEnv,
  cleanupProcesses,
  type Env,
  login,
  preparedDataDir,
  register,
  requestJson,
} from '../helpers/process.js'
import {
  bearer,
  json,
  PASSWORD,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
} from '../helpers/server.js'

const SCRIPT = '/usr/bin/script'

/** Runs the CLI on a pseudo-terminal (stdin is a TTY) and types `input` into it. */
function onTerminal(
  args: string[],
  env: Env,
  input: string,
): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, CLI_PATH, ...args].map((word) => `'${word}'`).join(' ')
  const child = spawn(SCRIPT, ['-qec', command, '/dev/null'], { env: childEnv(env), stdio: 'pipe' })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stdin.end(input)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`tessera ${args.join(' ')} on a terminal did not exit: ${output}`))
    }, 20_000)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

/** Each of these starts server processes two or three times: PGlite and key generation take a while. */
const PROCESS_TIMEOUT = 120_000

const servers: TestServer[] = []
const drops: (() => Promise<void>)[] = []
afterEach(async () => {
  await stopInProcessServers()
  await Promise.all(servers.splice(0).map((server) => server.close()))
  await cleanupProcesses()
  await Promise.all(drops.splice(0).map((drop) => drop()))
})

async function server(): Promise<TestServer> {
  const started = await startTestServer()
  servers.push(started)
  return started
}

function recordingEvents() {
  const events: AuthEvent[] = []
  return { events, record: (event: AuthEvent) => void events.push(event) }
}

const loginWith = (test: TestServer, email: string, password: string) =>
  test.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password, tokenDelivery: 'body' } })

describe('user lifecycle flows', () => {
  it('disabling revokes every session at once and answers login with ACCOUNT_DISABLED only for the right password', async () => {
    const test = await server()
    const user = await registerUser(test.app)
    const second = json<{ accessToken: string; refreshToken: string }>(
      await loginWith(test, user.email, user.password),
    )
    const recorder = recordingEvents()

    const change = await disableUser({ ...test.deps, events: recorder }, user.email.toUpperCase())
    expect(change).toMatchObject({ sessions: 2, changed: true, user: { id: user.userId } })
    expect(recorder.events).toEqual([{ type: 'user_disabled', userId: user.userId }])

    for (const accessToken of [user.accessToken, second.accessToken]) {
      const me = await test.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
      expect(me.statusCode).toBe(401)
    }
    for (const refreshToken of [user.refreshToken, second.refreshToken]) {
      const refreshed = await refreshWith(test.app, refreshToken)
      expect(refreshed.statusCode).toBe(401)
      expect(json(refreshed).code).toBe('REFRESH_TOKEN_INVALID')
    }
    const right = await loginWith(test, user.email, user.password)
    expect(right.statusCode).toBe(403)
    expect(json(right).code).toBe('ACCOUNT_DISABLED')
    const wrong = await loginWith(test, user.email, 'not the password at all')
    expect(wrong.statusCode).toBe(401)
    expect(json(wrong).code).toBe('INVALID_CREDENTIALS')
  })

  it('keeps the first disable time when disabling twice, and records no second event', async () => {
    const test = await server()
    const user = await registerUser(test.app)
    const recorder = recordingEvents()
    const deps = { ...test.deps, events: recorder }
    const first = await disableUser(deps, user.email)
    test.clock.advance(3600)
    const again = await disableUser(deps, user.email)
    expect(again).toMatchObject({ changed: false, sessions: 0 })
    expect(again.user.disabledAt).toEqual(first.user.disabledAt)
    expect((await test.deps.stores.users.findById(user.userId))?.disabledAt).toEqual(first.user.disabledAt)
    expect(recorder.events.map((event) => event.type)).toEqual(['user_disabled'])
  })

  it('enabling lets the user log in again, while the sessions ended by the disable stay ended', async () => {
    const test = await server()
    const user = await registerUser(test.app)
    const recorder = recordingEvents()
    const deps = { ...test.deps, events: recorder }
    await disableUser(deps, user.email)

    expect(await enableUser(deps, user.email)).toMatchObject({ changed: true, user: { disabledAt: null } })
    expect(await enableUser(deps, user.email)).toMatchObject({ changed: false })
    expect(recorder.events.map((event) => event.type)).toEqual(['user_disabled', 'user_enabled'])

    const loggedIn = await loginWith(test, user.email, user.password)
    expect(loggedIn.statusCode).toBe(200)
    const me = await test.app.inject({
      method: 'GET',
      url: '/auth/me',
      headers: bearer(json<{ accessToken: string }>(loggedIn).accessToken),
    })
    expect(me.statusCode).toBe(200)
    expect((await refreshWith(test.app, user.refreshToken)).statusCode).toBe(401)
  })

  it('deleting removes the user with its sessions and tokens; the email can register again', async () => {
    const test = await server()
    const user = await registerUser(test.app)
    await test.app.inject({ method: 'POST', url: '/auth/forgot-password', payload: { email: user.email } })
    const recorder = recordingEvents()

    const change = await deleteUser({ ...test.deps, events: recorder }, user.email)
    expect(change).toMatchObject({ sessions: 1, user: { id: user.userId } })
    expect(recorder.events).toEqual([{ type: 'user_deleted', userId: user.userId }])

    const db = test.database.handle.db
    expect(await db.selectFrom('users').select('id').where('id', '=', user.userId).execute()).toEqual([])
    expect(await db.selectFrom('sessions').select('id').where('user_id', '=', user.userId).execute()).toEqual(
      [],
    )
    expect(
      await db.selectFrom('one_time_tokens').select('id').where('user_id', '=', user.userId).execute(),
    ).toEqual([])
    expect((await db.selectFrom('refresh_tokens').select('id').execute()).length).toBe(0)

    const me = await test.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(user.accessToken) })
    expect(me.statusCode).toBe(401)
    expect(json(await refreshWith(test.app, user.refreshToken)).code).toBe('REFRESH_TOKEN_INVALID')
    expect(json(await loginWith(test, user.email, user.password)).code).toBe('INVALID_CREDENTIALS')

    const again = await registerUser(test.app, user.email)
    expect(again.userId).not.toBe(user.userId)
  })

  it('answers NOT_FOUND for an unknown email and changes nothing', async () => {
    const test = await server()
    const deps = { ...test.deps, events: recordingEvents() }
    for (const flow of [disableUser, enableUser, deleteUser]) {
      await expect(flow(deps, 'nobody@example.com')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    }
    expect(deps.events.events).toEqual([])
  })
})

// about the embedded data dir: the PostgreSQL pass has its own block below
describe.skipIf(TEST_DATABASE_URL)(
  'tessera users disable | enable | delete on an embedded data dir (no server running)',
  () => {
    it(
      'disables: the next server refuses the old tokens and the right password; enable lets the user back in',
      async () => {
        const env = { TESSERA_DATA_DIR: await preparedDataDir() }
        const first = await startServerInProcess(env)
        const registered = await register(first.url, 'ada@example.com', PASSWORD)
        expect(registered.status).toBe(201)
        expect(await first.stop()).toMatchObject({ code: 0 })

        const disabled = await runCli(['users', 'disable', '--email', 'Ada@example.com'], env)
        expect(disabled.stderr).toBe('')
        expect(disabled.code).toBe(0)
        expect(disabled.stdout).toBe('Disabled ada@example.com; 1 session revoked.\n')

        // the same port: the same issuer, so the old access token is still well-formed for this server
        const second = await startServerInProcess({ ...env, PORT: String(first.port) })
        expect(
          (await requestJson(`${second.url}/auth/me`, { token: registered.body.accessToken })).status,
        ).toBe(401)
        const refreshed = await requestJson(`${second.url}/auth/refresh`, {
          body: { refreshToken: registered.body.refreshToken },
        })
        expect(refreshed).toMatchObject({ status: 401, body: { code: 'REFRESH_TOKEN_INVALID' } })
        expect(await login(second.url, 'ada@example.com', PASSWORD)).toMatchObject({
          status: 403,
          body: { code: 'ACCOUNT_DISABLED' },
        })
        expect(await login(second.url, 'ada@example.com', 'wrong password, surely')).toMatchObject({
          status: 401,
          body: { code: 'INVALID_CREDENTIALS' },
        })

        // the data dir is the running server's: the CLI refuses instead of opening it beside it
        const busy = await runCli(['users', 'enable', '--email', 'ada@example.com'], env)
        expect(busy.code).toBe(1)
        expect(busy.stderr).toContain('is in use by')
        expect(await second.stop()).toMatchObject({ code: 0 })

        const enabled = await runCli(['users', 'enable', '--email', 'ada@example.com'], env)
        expect(enabled).toMatchObject({ code: 0, stdout: 'Enabled ada@example.com.\n', stderr: '' })
        const third = await startServerInProcess(env)
        expect((await login(third.url, 'ada@example.com', PASSWORD)).status).toBe(200)
      },
      PROCESS_TIMEOUT,
    )

    it(
      'deletes only with --yes when stdin is not a terminal; the email is then free again',
      async () => {
        const env = { TESSERA_DATA_DIR: await preparedDataDir() }
        const first = await startServerInProcess(env)
        const registered = await register(first.url, 'gone@example.com', PASSWORD)
        expect(registered.status).toBe(201)
        expect(await first.stop()).toMatchObject({ code: 0 })

        // a script without --yes: refused before the database is opened, whatever stdin says
        const refused = await runCli(['users', 'delete', '--email', 'gone@example.com'], env, 'y\n')
        expect(refused.code).toBe(2)
        expect(refused.stderr).toBe(
          'tessera: users delete needs --yes when stdin is not a terminal; nothing was deleted.\n',
        )
        const unknown = await runCli(['users', 'delete', '--email', 'nobody@example.com', '--yes'], env)
        expect(unknown).toMatchObject({
          code: 1,
          stderr: 'tessera: No user with email nobody@example.com.\n',
        })

        const deleted = await runCli(['users', 'delete', '--email', 'gone@example.com', '--yes'], env)
        expect(deleted.stderr).toBe('')
        expect(deleted.code).toBe(0)
        expect(deleted.stdout).toMatch(/^Deleted gone@example\.com \([0-9a-f-]{36}\) and 1 live session\.\n$/)

        const second = await startServerInProcess({ ...env, PORT: String(first.port) })
        expect(
          (await requestJson(`${second.url}/auth/me`, { token: registered.body.accessToken })).status,
        ).toBe(401)
        expect(await login(second.url, 'gone@example.com', PASSWORD)).toMatchObject({
          status: 401,
          body: { code: 'INVALID_CREDENTIALS' },
        })
        const again = await register(second.url, 'gone@example.com', PASSWORD)
        expect(again.status).toBe(201)
        expect(again.body.user?.id).not.toBe(registered.body.user?.id)
      },
      PROCESS_TIMEOUT,
    )

    // util-linux `script` runs the command on a pseudo-terminal, as an operator at a shell would
    it.skipIf(!existsSync(SCRIPT))(
      'asks on a terminal: anything but y keeps the account, y deletes it',
      async () => {
        const env = { TESSERA_DATA_DIR: await preparedDataDir() }
        const created = await runCli(['users', 'create', '--email', 'tty@example.com'], env, `${PASSWORD}\n`)
        expect(created.code).toBe(0)

        const kept = await onTerminal(['users', 'delete', '--email', 'tty@example.com'], env, 'n\n')
        expect(kept.code).toBe(0)
        expect(kept.output).toMatch(
          /Delete tty@example\.com \([0-9a-f-]{36}\) and every session of it\? .*\[y\/N\] /,
        )
        expect(kept.output).toContain('Nothing was deleted.')
        expect((await runCli(['users', 'enable', '--email', 'tty@example.com'], env)).code).toBe(0)

        const deleted = await onTerminal(['users', 'delete', '--email', 'tty@example.com'], env, 'y\n')
        expect(deleted.code).toBe(0)
        expect(deleted.output).toContain('Deleted tty@example.com')
        expect(await runCli(['users', 'enable', '--email', 'tty@example.com'], env)).toMatchObject({
          code: 1,
          stderr: 'tessera: No user with email tty@example.com.\n',
        })
      },
      PROCESS_TIMEOUT,
    )

    it(
      'explains a missing --email and an unknown option',
      async () => {
        const env = { TESSERA_DATA_DIR: await preparedDataDir() }
        const [noEmail, yesOnDisable] = await Promise.all([
          runCli(['users', 'disable'], env),
          runCli(['users', 'disable', '--email', 'a@example.com', '--yes'], env),
        ])
        expect(noEmail.code).toBe(2)
        expect(noEmail.stderr).toContain('--email is required')
        expect(yesOnDisable.code).toBe(2)
        expect(yesOnDisable.stderr).toContain("Unknown option '--yes'")
      },
      PROCESS_TIMEOUT,
    )
  },
)

describe.skipIf(!TEST_DATABASE_URL)('tessera users beside a running server on PostgreSQL', () => {
  it(
    'disables a user whose tokens the running server then refuses at once',
    async () => {
      const database = await freshPostgresUrl()
      if (!database) throw new Error('TEST_DATABASE_URL is not set')
      drops.push(database.drop)
      const env: Env = {
        DATABASE_URL: database.url,
        TESSERA_SECRET: 'Zq3v8N1xR7kPw2LmT9yB4cHd6FgJs0Ue-lifecycle',
      }
      const running = await startServerInProcess(env)
      const registered = await register(running.url, 'pg@example.com', PASSWORD)
      expect(
        (await requestJson(`${running.url}/auth/me`, { token: registered.body.accessToken })).status,
      ).toBe(200)

      const disabled = await runCli(['users', 'disable', '--email', 'pg@example.com'], env)
      expect(disabled).toMatchObject({ code: 0, stderr: '' })
      expect(
        (await requestJson(`${running.url}/auth/me`, { token: registered.body.accessToken })).status,
      ).toBe(401)
      expect(
        (
          await requestJson(`${running.url}/auth/refresh`, {
            body: { refreshToken: registered.body.refreshToken },
          })
        ).body,
      ).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' })

      const deleted = await runCli(['users', 'delete', '--email', 'pg@example.com', '--yes'], env)
      expect(deleted).toMatchObject({ code: 0, stderr: '' })
      expect((await login(running.url, 'pg@example.com', PASSWORD)).body).toMatchObject({
        code: 'INVALID_CREDENTIALS',
      })

      // the commands wrote their events to the audit log before exiting
      const audit = await openDatabase({ kind: 'postgres', url: database.url })
      try {
        const events = await audit.db
          .selectFrom('auth_events')
          .select('type')
          .where('user_id', '=', registered.body.user?.id ?? '')
          .where('type', 'in', ['user_disabled', 'user_deleted'])
          .orderBy('created_at')
          .execute()
        expect(events.map((event) => event.type)).toEqual(['user_disabled', 'user_deleted'])
      } finally {
        await audit.close()
      }
    },
    PROCESS_TIMEOUT,
  )
})

describe('the delete confirmation', () => {
  const ask = async (answer: string | null) => {
    const input = new PassThrough()
    const output = new PassThrough()
    const asked = confirm(input, output, 'Delete? [y/N] ')
    if (answer === null) input.end()
    else input.write(answer)
    return { yes: await asked, question: String(output.read()) }
  }

  it('takes only y or yes as a yes', async () => {
    expect(await ask('y\n')).toEqual({ yes: true, question: 'Delete? [y/N] ' })
    expect((await ask('YES\n')).yes).toBe(true)
    for (const answer of ['\n', 'n\n', 'yes please\n', null]) expect((await ask(answer)).yes).toBe(false)
  })
})
