import { afterEach, describe, expect, it } from 'vitest'
import { type Config, parseConfig } from '../../src/config.js'
import { createPasswordHasher } from '../../src/passwords/hasher.js'
import { createTessera, type Tessera } from '../../src/tessera.js'
import { runCli } from '../helpers/cli.js'
import { type TestClock, testClock } from '../helpers/clock.js'
import { freshPostgresUrl, TEST_DATABASE_URL } from '../helpers/database.js'
import {
  cleanupProcesses,
  type Env,
  preparedDataDir,
  register,
  startServerProcess,
  waitFor,
} from '../helpers/process.js'
import { CHEAP_ARGON2ID, PASSWORD, TEST_SECRET, uniqueEmail } from '../helpers/server.js'
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhooks.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await cleanupProcesses()
})

/** A database the CLI, in-test servers and server processes share: a data dir, or PostgreSQL. */
async function sharedDatabase(): Promise<Env> {
  if (TEST_DATABASE_URL) {
    const fresh = await freshPostgresUrl()
    if (!fresh) throw new Error('no PostgreSQL')
    cleanups.push(fresh.drop)
    return { DATABASE_URL: fresh.url }
  }
  return { TESSERA_DATA_DIR: await preparedDataDir() }
}

interface Setup {
  env: Env
  receiver: WebhookReceiver
  clock: TestClock
}

async function setUp(): Promise<Setup> {
  const secret = newWebhookSecret()
  const clock = testClock()
  const receiver = await startWebhookReceiver(secret, () => clock.now())
  cleanups.push(() => receiver.stop())
  const env = {
    ...(await sharedDatabase()),
    TESSERA_SECRET: TEST_SECRET,
    TESSERA_WEBHOOK_URL: receiver.url,
    TESSERA_WEBHOOK_SECRET: secret,
  }
  return { env, receiver, clock }
}

/** A server in this process on the shared database, its clock fixed and no delivery loop: `deliverDue()` drives it. */
async function openServer({ env, clock }: Setup): Promise<Tessera> {
  const config: Config = parseConfig({
    ...env,
    TESSERA_RATE_LIMIT: 'off',
    TESSERA_HOUSEKEEPING: 'off',
    TESSERA_PUBLIC_URL: 'http://localhost:3000',
  } as Record<string, string>)
  const tessera = await createTessera(config, {
    logger: false,
    clock,
    hasher: createPasswordHasher(CHEAP_ARGON2ID),
    webhookLoop: false,
  })
  return tessera
}

const cli = (setup: Setup, args: string[], stdin?: string) => runCli(args, setup.env, stdin)

async function deliverDue(tessera: Tessera) {
  if (!tessera.webhooks) throw new Error('webhooks are not configured')
  return tessera.webhooks.deliverDue()
}

describe('webhooks across restarts and from the CLI', () => {
  it('delivers what the CLI and a server that stopped before delivering wrote, once a server runs', async () => {
    const setup = await setUp()
    const operator = 'ops@example.com'
    expect((await cli(setup, ['users', 'create', '--email', operator], `${PASSWORD}\n`)).code).toBe(0)
    expect((await cli(setup, ['users', 'roles', '--email', operator, '--add', 'admin'])).code).toBe(0)
    expect((await cli(setup, ['users', 'disable', '--email', operator])).code).toBe(0)
    expect((await cli(setup, ['users', 'enable', '--email', operator])).code).toBe(0)
    expect((await cli(setup, ['users', 'create', '--email', 'gone@example.com'], `${PASSWORD}\n`)).code).toBe(
      0,
    )
    expect((await cli(setup, ['users', 'delete', '--email', 'gone@example.com', '--yes'])).code).toBe(0)

    // the commands stamped their events with the real time, past the test clock's start
    setup.clock.set(new Date(Date.now() + 1000))
    // a registration committed, then the server stops before any delivery
    const first = await openServer(setup)
    const email = uniqueEmail()
    const registered = await first.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD },
    })
    expect(registered.statusCode).toBe(201)
    await first.close()
    expect(setup.receiver.received).toHaveLength(0)

    const second = await openServer(setup)
    try {
      expect(await deliverDue(second)).toMatchObject({ delivered: 8, failed: 0 })
    } finally {
      await second.close()
    }
    const events = setup.receiver.accepted()
    const about = (address: string) =>
      events
        .filter((event) => (event.data as { user?: { email: string } }).user?.email === address)
        .sort((a, b) => a.timestamp.localeCompare(b.timestamp))
        .map((event) => event.type)
    expect(new Set(about(operator))).toEqual(
      new Set(['user.created', 'user.updated', 'user.disabled', 'user.enabled']),
    )
    expect(about('gone@example.com').sort()).toEqual(['user.created', 'user.deleted'])
    expect(about(email)).toEqual(['user.created'])
    const updated = events.find((event) => event.type === 'user.updated')
    expect(updated?.data).toMatchObject({ user: { roles: ['user', 'admin'] }, changed: ['roles'] })
    expect(events.filter((event) => event.type === 'session.created')).toHaveLength(1)
  })

  it('lists events that gave up with tessera webhooks failed, and resends them with tessera webhooks retry', async () => {
    const setup = await setUp()
    setup.receiver.answer(500)
    const server = await openServer(setup)
    await server.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: uniqueEmail(), password: PASSWORD },
    })
    let failed = 0
    for (let step = 0; failed < 2 && step < 300; step++) {
      failed += (await deliverDue(server)).failed
      setup.clock.advance(900)
    }
    await server.close()
    expect(failed).toBe(2)

    const listed = await cli(setup, ['webhooks', 'failed'])
    expect(listed.code).toBe(0)
    expect(listed.stdout).toMatch(
      /^msg_\S+ {2}(user|session)\.created {2}attempts \d+ {2}last error: HTTP 500 {2}created \S+Z$/m,
    )
    const json = await cli(setup, ['webhooks', 'failed', '--json'])
    const { events } = JSON.parse(json.stdout) as { events: { id: string; type: string; attempts: number }[] }
    expect(events.map((event) => event.type).sort()).toEqual(['session.created', 'user.created'])
    expect(events.every((event) => event.attempts > 10)).toBe(true)

    expect((await cli(setup, ['webhooks', 'retry'])).code).toBe(2)
    const unknown = await cli(setup, ['webhooks', 'retry', '--id', 'msg_unknown'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('1 of the ids named no given-up event')
    const one = await cli(setup, ['webhooks', 'retry', '--id', events[0]?.id ?? ''])
    expect(one.code).toBe(0)
    expect(one.stdout).toMatch(/^Queued 1 event/)
    expect(JSON.parse((await cli(setup, ['webhooks', 'failed', '--json'])).stdout).events).toHaveLength(1)
    expect((await cli(setup, ['webhooks', 'retry', '--all'])).stdout).toMatch(/^Queued 1 event/)
    expect((await cli(setup, ['webhooks', 'failed'])).stdout).toBe('No webhook event has given up.\n')

    setup.receiver.answer(204)
    const again = await openServer(setup)
    try {
      expect(await deliverDue(again)).toEqual({ delivered: 2, retried: 0, failed: 0 })
    } finally {
      await again.close()
    }
    const ids = new Set(setup.receiver.accepted().map((event) => event.type))
    expect(ids).toEqual(new Set(['user.created', 'session.created']))
    expect(
      setup.receiver.received
        .filter((request) => request.status === 204)
        .map((r) => r.headers['webhook-id'])
        .sort(),
    ).toEqual(events.map((event) => event.id).sort())
  })

  it('loses nothing when the server is killed (SIGKILL) after the change, before the delivery', async () => {
    // the clock stays at the test's start, as real time is for the server process: the receiver
    // verifies within the package's 5 minutes of it
    const setup = await setUp()
    // refusing connections: the server cannot deliver before it dies
    await setup.receiver.stop()
    const env = { ...setup.env }
    const first = await startServerProcess(env)
    const email = uniqueEmail()
    const registered = await register(first.url, email, PASSWORD)
    expect(registered.status).toBe(201)
    await first.stop('SIGKILL')
    await setup.receiver.start()
    // the embedded database's lock, left by the killed process on this host, is taken over at
    // once: a supervisor's immediate restart is not refused
    const second = await startServerProcess(env)
    const created = await waitFor(
      () =>
        setup.receiver
          .accepted()
          .find(
            (event) =>
              event.type === 'user.created' &&
              (event.data as { user: { email: string } }).user.email === email,
          ),
      'user.created at the receiver after the restart',
      30_000,
    )
    expect(created.data).toMatchObject({ user: { email, emailVerified: false }, via: 'register' })
    await second.stop()
  })

  // PGlite is one process's: several instances share an outbox only on PostgreSQL
  it.skipIf(!TEST_DATABASE_URL)('shares the outbox between instances: each event is sent once', async () => {
    const setup = await setUp()
    const one = await openServer(setup)
    const two = await openServer(setup)
    try {
      for (let index = 0; index < 20; index++) {
        const response = await (index % 2 ? one : two).app.inject({
          method: 'POST',
          url: '/auth/register',
          payload: { email: uniqueEmail(), password: PASSWORD },
        })
        expect(response.statusCode).toBe(201)
      }
      const [a, b] = await Promise.all([deliverDue(one), deliverDue(two)])
      expect((a?.delivered ?? 0) + (b?.delivered ?? 0)).toBe(40)
    } finally {
      await one.close()
      await two.close()
    }
    expect(setup.receiver.received).toHaveLength(40)
    expect(new Set(setup.receiver.received.map((request) => request.headers['webhook-id'])).size).toBe(40)
  })
})
