import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type ClientEvent,
  type ClientOptions,
  createClient,
  type RefreshLock,
  type TesseraClient,
} from '../src/index.js'
import { cookieJar, recordingFetch } from './helpers/fetch.js'
import {
  expectSignedIn,
  manualClock,
  PASSWORD,
  type RunningServer,
  startServer,
  uniqueEmail,
} from './helpers/server.js'

let server: RunningServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(async () => {
  await server?.close()
})

const REFRESH = 'POST /auth/refresh'

const open: TesseraClient[] = []
afterEach(() => {
  for (const client of open.splice(0)) client.close()
})

/** A browser tab in Node: cookie mode, over a fetch that keeps cookies like a browser would. */
function tab(fetch: ClientOptions['fetch'], options: Partial<ClientOptions> = {}) {
  const client = createClient({ baseUrl: server.baseUrl, tokenDelivery: 'cookie', fetch, ...options })
  open.push(client)
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, events }
}

/** Resolves at the next event of `client`. */
const nextEvent = (client: TesseraClient) =>
  new Promise<ClientEvent>((resolve) => {
    const stop = client.onChange((event) => {
      stop()
      resolve(event)
    })
  })

/** A lock shared by the tabs of this test, as Web Locks is by the tabs of an origin. */
function sharedLock(): RefreshLock {
  let tail: Promise<unknown> = Promise.resolve()
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      const result = tail.then(task)
      tail = result.then(
        () => undefined,
        () => undefined,
      )
      return result
    },
  }
}

describe('cookie mode', () => {
  it('keeps the refresh token in the cookie and restores the session after a reload with one refresh', async () => {
    const jar = cookieJar()
    const recording = recordingFetch(jar.fetch)
    const first = tab(recording.fetch, { crossTab: false })
    const email = uniqueEmail()

    const { user } = await expectSignedIn(first.client.register({ email, password: PASSWORD }))

    const [register] = recording.to('/auth/register')
    expect(register?.credentials).toBe('include')
    expect(JSON.parse(register?.body ?? '{}')).toMatchObject({ tokenDelivery: 'cookie' })
    const cookie = jar.cookies.get('tessera_refresh')
    expect(cookie).toMatch(/.{40,}/)

    // a page load: a new client with nothing in memory, the same browser cookie
    first.client.close()
    const refreshesBefore = server.hitsOf(REFRESH)
    const second = tab(recording.fetch, { crossTab: false })
    expect(second.client.state).toBe('unknown')

    const restored = await second.client.restore()

    expect(restored).toEqual(user)
    expect(second.events).toEqual([{ type: 'signed-in', user }])
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    const [refresh] = recording.to('/auth/refresh')
    expect(refresh?.method).toBe('POST')
    expect(refresh?.credentials).toBe('include')
    expect(refresh?.headers.get('content-type')).toBe('application/json')
    expect(refresh?.body).toBe('{}')
    expect(jar.cookies.get('tessera_refresh')).not.toBe(cookie)
    expect((await second.client.fetch(`${server.baseUrl}/auth/me`)).status).toBe(200)
  })

  it('restores nothing without a refresh cookie', async () => {
    const { client, events } = tab(cookieJar().fetch, { crossTab: false })

    expect(await client.restore()).toBeNull()

    expect(client.state).toBe('signed-out')
    expect(events).toEqual([{ type: 'signed-out', reason: 'no-session' }])
  })

  it('logs out with the cookie and an empty JSON body; the server clears the cookie', async () => {
    const jar = cookieJar()
    const recording = recordingFetch(jar.fetch)
    const { client, events } = tab(recording.fetch, { crossTab: false })
    await client.register({ email: uniqueEmail(), password: PASSWORD })
    const cookie = jar.cookies.get('tessera_refresh')

    await client.logout()

    const [logout] = recording.to('/auth/logout')
    expect(logout?.credentials).toBe('include')
    expect(logout?.body).toBe('{}')
    expect(events.at(-1)).toEqual({ type: 'signed-out', reason: 'logout' })
    expect(jar.cookies.has('tessera_refresh')).toBe(false)
    const replay = await fetch(`${server.baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `tessera_refresh=${cookie}` },
      body: '{}',
    })
    expect(replay.status).toBe(401)
  })
})

describe('tabs of one origin', () => {
  async function twoTabs(lock?: RefreshLock) {
    const jar = cookieJar()
    const clock = manualClock()
    const options = { now: clock.now, ...(lock ? { lock } : {}) }
    const a = tab(jar.fetch, options)
    const b = tab(jar.fetch, options)
    const bSignedIn = nextEvent(b.client)
    const { user } = await expectSignedIn(a.client.register({ email: uniqueEmail(), password: PASSWORD }))
    // the other tab learns of the login over the channel
    expect(await bSignedIn).toEqual({ type: 'signed-in', user })
    return { a, b, clock }
  }

  for (const [name, lock] of [
    ['a shared lock (Web Locks)', sharedLock],
    ['the BroadcastChannel fallback lock', () => undefined],
  ] as const) {
    it(`send one refresh for both tabs with ${name}: the second adopts the first one's token`, async () => {
      const { a, b, clock } = await twoTabs(lock())
      expect(await b.client.getAccessToken()).toBe(await a.client.getAccessToken())
      clock.advance(11)
      server.advance(11)
      const refreshesBefore = server.hitsOf(REFRESH)

      const responses = await Promise.all([
        ...Array.from({ length: 10 }, () => a.client.fetch(`${server.baseUrl}/auth/me`)),
        ...Array.from({ length: 10 }, () => b.client.fetch(`${server.baseUrl}/auth/me`)),
      ])

      expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200))
      expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
      expect(await b.client.getAccessToken()).toBe(await a.client.getAccessToken())
    })
  }

  it('signs the other tabs out when one logs out', async () => {
    const { a, b } = await twoTabs(sharedLock())
    const bSignedOut = nextEvent(b.client)

    await a.client.logout()

    expect(await bSignedOut).toEqual({ type: 'signed-out', reason: 'other-tab' })
    expect(b.client.state).toBe('signed-out')
    expect(await b.client.getAccessToken()).toBeNull()
  })
})
