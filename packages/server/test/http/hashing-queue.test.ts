import type { LightMyRequestResponse } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { createPasswordHasher, type PasswordHasher } from '../../src/passwords/hasher.js'
import { waitFor } from '../helpers/process.js'
import {
  json,
  PASSWORD,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'
import { METRICS_TOKEN, sampleValue, scrape } from '../observability/scrape.js'

/**
 * The real hasher, except that every call waits until the test lets it go: the test decides how
 * long a hash "takes", so the gate's line can be filled and watched.
 */
function heldHasher() {
  const real = createPasswordHasher()
  const held: Array<() => void> = []
  let holding = false
  const hold = async <T>(work: () => Promise<T>): Promise<T> => {
    if (holding) await new Promise<void>((resolve) => held.push(resolve))
    return work()
  }
  const hasher: PasswordHasher = {
    hash: (password) => hold(() => real.hash(password)),
    verify: (stored, password) => hold(() => real.verify(stored, password)),
    verifyDummy: (password) => hold(() => real.verifyDummy(password)),
  }
  return {
    hasher,
    hold: () => {
      holding = true
    },
    /** Lets every held call go, and the later ones run at once. */
    release: () => {
      holding = false
      for (const go of held.splice(0)) go()
    },
    /** Calls that reached the hasher and wait there. */
    waiting: () => held.length,
  }
}

const servers: TestServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function gatedServer(env: Record<string, string> = {}) {
  const control = heldHasher()
  const server = await startTestServer(
    {
      TESSERA_METRICS_TOKEN: METRICS_TOKEN,
      TESSERA_HASH_CONCURRENCY: '1',
      TESSERA_HASH_QUEUE: '1',
      TESSERA_HASH_QUEUE_TIMEOUT: '1s',
      ...env,
    },
    undefined,
    { hasher: control.hasher },
  )
  servers.push(server)
  return { server, control }
}

const login = (server: TestServer, email: string, password = PASSWORD) =>
  server.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password, tokenDelivery: 'body' },
  })

/** Resolves once `condition` holds; fails after a second. */
const until = (condition: () => boolean | Promise<boolean>, what: string) =>
  waitFor(async () => ((await condition()) ? true : undefined), what, 1000, 5)

const gauge = async (server: TestServer, name: string) => sampleValue(await scrape(server.app), name)

function expectOverloaded(response: LightMyRequestResponse) {
  expect(response.statusCode).toBe(503)
  expect(response.headers['content-type']).toContain('application/problem+json')
  expect(response.headers['retry-after']).toBe('1')
  expect(json(response)).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' })
  // no token of any kind in a refusal
  expect(response.body).not.toMatch(/accessToken|refreshToken/)
  expect(response.headers['set-cookie']).toBeUndefined()
}

describe('the password hashing queue (TESSERA_HASH_CONCURRENCY 1, TESSERA_HASH_QUEUE 1)', () => {
  it('runs one hash, queues the next, refuses the one after with 503 and Retry-After at once', async () => {
    const { server, control } = await gatedServer()
    const user = await registerUser(server.app)
    control.hold()

    const first = login(server, user.email)
    await until(() => control.waiting() === 1, 'the first login to reach the hasher')
    const second = login(server, user.email)
    await until(async () => (await gauge(server, 'tessera_password_hash_queued')) === 1, 'one queued')
    expect(await gauge(server, 'tessera_password_hash_in_flight')).toBe(1)

    const started = Date.now()
    expectOverloaded(await login(server, user.email))
    // refused without waiting for a turn
    expect(Date.now() - started).toBeLessThan(500)
    // the second is still in line, not at the hasher: one hash at a time
    expect(control.waiting()).toBe(1)

    // cheap routes answer while the hash runs
    expect((await server.app.inject({ url: '/healthz' })).statusCode).toBe(200)

    control.release()
    expect((await first).statusCode).toBe(200)
    expect((await second).statusCode).toBe(200)
    expect(await gauge(server, 'tessera_password_hash_in_flight')).toBe(0)
    expect(await gauge(server, 'tessera_password_hash_queued')).toBe(0)
  })

  it('refuses a request that waited TESSERA_HASH_QUEUE_TIMEOUT for its turn, and frees its place', async () => {
    const { server, control } = await gatedServer()
    const user = await registerUser(server.app)
    control.hold()
    const first = login(server, user.email)
    await until(() => control.waiting() === 1, 'the first login to reach the hasher')

    const started = Date.now()
    const waited = await login(server, user.email)
    const elapsed = Date.now() - started
    expectOverloaded(waited)
    expect(elapsed).toBeGreaterThanOrEqual(950)
    expect(elapsed).toBeLessThan(3000)
    expect(await gauge(server, 'tessera_password_hash_queued')).toBe(0)

    // its place in line is free again: the next one queues rather than being refused
    const next = login(server, user.email)
    await until(async () => (await gauge(server, 'tessera_password_hash_queued')) === 1, 'one queued')
    control.release()
    expect((await first).statusCode).toBe(200)
    expect((await next).statusCode).toBe(200)
  })

  it('gates registration too, and a refused registration creates nothing', async () => {
    const { server, control } = await gatedServer()
    control.hold()
    const register = (email: string) =>
      server.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { email, password: PASSWORD, tokenDelivery: 'body' },
      })
    const first = register(uniqueEmail('first'))
    await until(() => control.waiting() === 1, 'the first registration to reach the hasher')
    const second = register(uniqueEmail('second'))
    await until(async () => (await gauge(server, 'tessera_password_hash_queued')) === 1, 'one queued')
    const refusedEmail = uniqueEmail('refused')
    expectOverloaded(await register(refusedEmail))
    control.release()
    expect((await first).statusCode).toBe(201)
    expect((await second).statusCode).toBe(201)

    // the refused one left no account behind: the address registers now, and had no password set
    expect((await register(refusedEmail)).statusCode).toBe(201)
  })

  it('does not count a refused login towards the lockout of its email', async () => {
    const { server, control } = await gatedServer({
      TESSERA_RATE_LIMIT: 'on',
      TESSERA_LOCKOUT_THRESHOLD: '2',
      // per-IP limits out of the way: this test is about the lockout
      TESSERA_LIMIT_LOGIN: '1000/1m',
      TESSERA_LIMIT_LOGIN_FAILED: '1000/1m',
    })
    const user = await registerUser(server.app)
    const other = await registerUser(server.app)
    control.hold()
    const holder = login(server, other.email)
    await until(() => control.waiting() === 1, 'a login to hold the hasher')
    const queued = login(server, other.email)
    await until(async () => (await gauge(server, 'tessera_password_hash_queued')) === 1, 'one queued')
    // three refusals with a wrong password: had they counted, the email would now be locked
    for (let i = 0; i < 3; i++) expectOverloaded(await login(server, user.email, 'wrong password 12345'))
    control.release()
    await holder
    await queued
    const after = await login(server, user.email)
    expect(after.statusCode).toBe(200)
  })
})

describe('two hashes at once (TESSERA_HASH_CONCURRENCY 2)', () => {
  /** An event loop that is congested while the test says so. */
  const fakeLoop = () => {
    let busy = false
    return {
      pressure: { congested: () => busy, stop() {} },
      set: (value: boolean) => {
        busy = value
      },
    }
  }
  const env = { TESSERA_HASH_CONCURRENCY: '2', TESSERA_HASH_QUEUE: '4' }

  it('hashes two logins side by side, queues a third, and signs all three in', async () => {
    const { server, control } = await gatedServer(env)
    const user = await registerUser(server.app)
    control.hold()
    const first = login(server, user.email)
    const second = login(server, user.email)
    await until(() => control.waiting() === 2, 'both logins to reach the hasher')
    const third = login(server, user.email)
    await until(async () => (await gauge(server, 'tessera_password_hash_queued')) === 1, 'one queued')
    expect(await gauge(server, 'tessera_password_hash_in_flight')).toBe(2)
    expect(control.waiting()).toBe(2)

    control.release()
    for (const response of await Promise.all([first, second, third])) expect(response.statusCode).toBe(200)
    expect(await gauge(server, 'tessera_password_hash_in_flight')).toBe(0)
  })

  it('runs one hash at a time while the event loop is congested, and two again once it keeps up', async () => {
    const loop = fakeLoop()
    const control = heldHasher()
    const server = await startTestServer({ TESSERA_METRICS_TOKEN: METRICS_TOKEN, ...env }, undefined, {
      hasher: control.hasher,
      loopPressure: loop.pressure,
    })
    servers.push(server)
    const user = await registerUser(server.app)
    control.hold()
    loop.set(true)
    const first = login(server, user.email)
    await until(() => control.waiting() === 1, 'the first login to reach the hasher')
    const second = login(server, user.email)
    await until(async () => (await gauge(server, 'tessera_password_hash_queued')) === 1, 'one queued')
    // congested: the second waits although the concurrency allows two
    expect(control.waiting()).toBe(1)
    expect(await gauge(server, 'tessera_password_hash_in_flight')).toBe(1)

    // the loop keeps up again: the next turn goes to the one in line first, then the newcomer
    loop.set(false)
    const third = login(server, user.email)
    await until(() => control.waiting() === 2, 'the queued login to reach the hasher')
    expect(await gauge(server, 'tessera_password_hash_in_flight')).toBe(2)
    expect(await gauge(server, 'tessera_password_hash_queued')).toBe(1)

    control.release()
    for (const response of await Promise.all([first, second, third])) expect(response.statusCode).toBe(200)
    expect(await gauge(server, 'tessera_password_hash_queued')).toBe(0)
  })

  it('signs in with TESSERA_HASH_LOOP_DELAY set, watching the real event loop', async () => {
    const server = await startTestServer({ ...env, TESSERA_HASH_LOOP_DELAY: '10' })
    servers.push(server)
    const user = await registerUser(server.app)
    const responses = await Promise.all([login(server, user.email), login(server, user.email)])
    for (const response of responses) expect(response.statusCode).toBe(200)
  })
})
