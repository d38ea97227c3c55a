import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ClientEvent,
  type ClientOptions,
  createClient,
  memoryStorage,
  TesseraClientError,
} from '../src/index.js'
import { fakeApi, problem, recordingFetch } from './helpers/fetch.js'
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
const ME = 'GET /auth/me'

/** A body-mode client signed in as a new user, with its own clock and a record of its events. */
async function signedIn(options: Partial<ClientOptions> = {}) {
  const clock = manualClock()
  const storage = memoryStorage()
  const client = createClient({
    baseUrl: server.baseUrl,
    tokenDelivery: 'body',
    storage,
    now: clock.now,
    ...options,
  })
  const { user } = await expectSignedIn(client.register({ email: uniqueEmail(), password: PASSWORD }))
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  // both clocks past the 10 s lifetime: the client knows its token is expired
  const expireAccessToken = () => {
    clock.advance(11)
    server.advance(11)
  }
  return { client, clock, storage, user, events, expireAccessToken }
}

async function revokeAllSessions(accessToken: string) {
  const response = await fetch(`${server.baseUrl}/auth/logout-all`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}` },
  })
  expect(response.status).toBe(204)
}

const twenty = <T>(call: () => Promise<T>) => Promise.all(Array.from({ length: 20 }, call))
const twentySettled = <T>(call: () => Promise<T>) => Promise.allSettled(Array.from({ length: 20 }, call))

function rejections(results: PromiseSettledResult<unknown>[]): TesseraClientError[] {
  return results.map((result) => {
    if (result.status !== 'rejected') throw new Error('a call succeeded')
    expect(result.reason).toBeInstanceOf(TesseraClientError)
    return result.reason as TesseraClientError
  })
}

describe('refresh before the call', () => {
  it('sends one POST /auth/refresh for 20 concurrent calls with an expired access token, then all succeed', async () => {
    const recording = recordingFetch()
    const { client, expireAccessToken } = await signedIn({ fetch: recording.fetch })
    const oldToken = await client.getAccessToken()
    expireAccessToken()
    const refreshesBefore = server.hitsOf(REFRESH)

    const responses = await twenty(() => client.fetch(`${server.baseUrl}/auth/me`))

    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200))
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    const sent = new Set(recording.to('/auth/me').map((request) => request.headers.get('authorization')))
    expect(sent.size).toBe(1)
    expect(sent.has(`Bearer ${oldToken}`)).toBe(false)
  })

  it('refreshes within refreshMargin of expiry, but never earlier than half the lifetime', async () => {
    // refreshMargin 30 s on a 10 s token: capped at 5 s
    const { client, clock } = await signedIn({ refreshMargin: 30 })
    const before = server.hitsOf(REFRESH)
    clock.advance(4)
    expect((await client.fetch(`${server.baseUrl}/auth/me`)).status).toBe(200)
    expect(server.hitsOf(REFRESH) - before).toBe(0)
    clock.advance(2)
    expect((await client.fetch(`${server.baseUrl}/auth/me`)).status).toBe(200)
    expect(server.hitsOf(REFRESH) - before).toBe(1)
  })

  it('signs out once and rejects all 20 waiting calls with SESSION_EXPIRED when the refresh is refused', async () => {
    const { client, storage, events, expireAccessToken } = await signedIn()
    await revokeAllSessions((await client.getAccessToken()) ?? '')
    expireAccessToken()
    const refreshesBefore = server.hitsOf(REFRESH)

    const errors = rejections(await twentySettled(() => client.fetch(`${server.baseUrl}/auth/me`)))

    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    for (const error of errors) {
      expect(error.code).toBe('SESSION_EXPIRED')
      expect(error.retryable).toBe(false)
      expect(error.status).toBe(401)
      expect(error.problem?.code).toBe('REFRESH_TOKEN_INVALID')
      expect(error.cause).toMatchObject({ code: 'REFRESH_TOKEN_INVALID', status: 401 })
    }
    expect(events).toEqual([{ type: 'signed-out', reason: 'session-expired' }])
    expect(client.state).toBe('signed-out')
    expect(client.user).toBeNull()
    expect(await storage.get()).toBeNull()
    expect(await client.getAccessToken()).toBeNull()
    // signed out: the next call fails at once, without asking the server
    await expect(client.fetch(`${server.baseUrl}/auth/me`)).rejects.toMatchObject({ code: 'NOT_SIGNED_IN' })
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
  })

  it('signs out with SESSION_EXPIRED when a rotated refresh token is replayed after the grace window', async () => {
    const { client, storage, events, expireAccessToken } = await signedIn()
    const first = await storage.get()
    expireAccessToken()
    expect((await client.fetch(`${server.baseUrl}/auth/me`)).status).toBe(200)
    const rotated = await storage.get()
    expect(rotated).not.toBe(first)

    // a stale copy of the token (a restored backup, a thief) comes back after the 10 s grace
    await storage.set(first ?? '')
    expireAccessToken()
    const error = await client.fetch(`${server.baseUrl}/auth/me`).catch((caught: unknown) => caught)

    expect(error).toBeInstanceOf(TesseraClientError)
    expect(error).toMatchObject({ code: 'SESSION_EXPIRED', retryable: false })
    expect((error as TesseraClientError).problem?.code).toBe('REFRESH_TOKEN_REUSED')
    expect(events).toEqual([{ type: 'signed-out', reason: 'session-expired' }])
    // the server revoked the whole session: the legitimate successor is dead too
    const replay = await fetch(`${server.baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: rotated }),
    })
    expect(replay.status).toBe(401)
  })

  it('keeps the session and rejects with a retryable REFRESH_FAILED on a 503, and the next call succeeds', async () => {
    let refusals = 0
    let unavailable = true
    const api = fakeApi({
      intercept(request) {
        if (!unavailable || new URL(request.url).pathname !== '/auth/refresh') return undefined
        refusals += 1
        return problem(503, 'SERVICE_UNAVAILABLE', { 'retry-after': '7' })
      },
    })
    const { client, storage, events, expireAccessToken } = await signedIn({ fetch: api.fetch })
    const storedBefore = await storage.get()
    expireAccessToken()

    const errors = rejections(await twentySettled(() => client.fetch(`${server.baseUrl}/auth/me`)))

    expect(refusals).toBe(1)
    for (const error of errors) {
      expect(error.code).toBe('REFRESH_FAILED')
      expect(error.retryable).toBe(true)
      expect(error.retryAfter).toBe(7)
      expect(error.status).toBe(503)
    }
    expect(events).toEqual([])
    expect(client.state).toBe('signed-in')
    expect(await storage.get()).toBe(storedBefore)

    unavailable = false
    const refreshesBefore = server.hitsOf(REFRESH)
    expect((await client.fetch(`${server.baseUrl}/auth/me`)).status).toBe(200)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    expect(events).toEqual([])
  })

  it('keeps the session and rejects with a retryable REFRESH_FAILED when the refresh cannot reach the server', async () => {
    let offline = true
    const api = fakeApi({
      intercept(request) {
        if (offline && new URL(request.url).pathname === '/auth/refresh') throw new TypeError('fetch failed')
        return undefined
      },
    })
    const { client, events, expireAccessToken } = await signedIn({ fetch: api.fetch })
    expireAccessToken()

    const error = await client.fetch(`${server.baseUrl}/auth/me`).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'REFRESH_FAILED', retryable: true, retryAfter: undefined })
    expect((error as Error).cause).toBeInstanceOf(TypeError)
    expect(client.state).toBe('signed-in')

    offline = false
    expect((await client.fetch(`${server.baseUrl}/auth/me`)).status).toBe(200)
    expect(events).toEqual([])
  })
})

describe('answers of the API', () => {
  it('hands a 401 TOKEN_INVALID back as it is, without refreshing', async () => {
    const api = fakeApi({ handler: () => problem(401, 'TOKEN_INVALID') })
    const { client, events } = await signedIn({ fetch: api.fetch })
    const refreshesBefore = server.hitsOf(REFRESH)

    const response = await client.fetch('http://api.test/orders')

    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ code: 'TOKEN_INVALID' })
    expect(api.seen).toHaveLength(1)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(0)
    expect(events).toEqual([])
  })

  it('refreshes once and retries once on TOKEN_EXPIRED for a token the client thought fresh', async () => {
    const recording = recordingFetch()
    const { client } = await signedIn({ fetch: recording.fetch })
    // only the server's clock moves: the client still believes its token fresh
    server.advance(11)
    const refreshesBefore = server.hitsOf(REFRESH)
    const meBefore = server.hitsOf(ME)

    const response = await client.fetch(`${server.baseUrl}/auth/me`)

    expect(response.status).toBe(200)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    expect(server.hitsOf(ME) - meBefore).toBe(2)
    const [first, retry] = recording.to('/auth/me').map((request) => request.headers.get('authorization'))
    expect(retry).toBeDefined()
    expect(retry).not.toBe(first)
  })

  it('shares one refresh among 20 concurrent calls that all meet TOKEN_EXPIRED', async () => {
    const { client } = await signedIn()
    server.advance(11)
    const refreshesBefore = server.hitsOf(REFRESH)

    const responses = await twenty(() => client.fetch(`${server.baseUrl}/auth/me`))

    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200))
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
  })

  it('retries at most once: an API that always says TOKEN_EXPIRED gets one refresh, one retry, then its 401 is returned', async () => {
    const api = fakeApi({ handler: () => problem(401, 'TOKEN_EXPIRED') })
    const { client } = await signedIn({ fetch: api.fetch })
    const refreshesBefore = server.hitsOf(REFRESH)

    const response = await client.fetch('http://api.test/always-expired')

    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ code: 'TOKEN_EXPIRED' })
    expect(api.seen).toHaveLength(2)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    const [first, retry] = api.seen.map((request) => request.headers.get('authorization'))
    expect(retry).not.toBe(first)
  })

  it('refreshes once and retries once on TOKEN_REVOKED, as on TOKEN_EXPIRED (a user change: the new token passes)', async () => {
    const api = fakeApi({
      handler: (request) =>
        api.seen.length === 1
          ? problem(401, 'TOKEN_REVOKED')
          : new Response(request.headers.get('authorization')),
    })
    const { client, events } = await signedIn({ fetch: api.fetch })
    const refreshesBefore = server.hitsOf(REFRESH)

    const response = await client.fetch('http://api.test/orders')

    expect(response.status).toBe(200)
    expect(api.seen).toHaveLength(2)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    const [first, retry] = api.seen.map((request) => request.headers.get('authorization'))
    expect(retry).not.toBe(first)
    expect(await response.text()).toBe(retry)
    expect(events).toEqual([])
  })

  it('signs out with SESSION_EXPIRED when TOKEN_REVOKED came from a revoked session (the refresh is refused)', async () => {
    const api = fakeApi({ handler: () => problem(401, 'TOKEN_REVOKED') })
    const { client, events, storage } = await signedIn({ fetch: api.fetch })
    await revokeAllSessions((await client.getAccessToken()) ?? '')
    const refreshesBefore = server.hitsOf(REFRESH)

    const error = await client.fetch('http://api.test/orders').then(
      () => undefined,
      (reason: unknown) => reason,
    )

    expect(error).toBeInstanceOf(TesseraClientError)
    expect(error).toMatchObject({ code: 'SESSION_EXPIRED', retryable: false })
    expect(api.seen).toHaveLength(1)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    expect(events).toEqual([{ type: 'signed-out', reason: 'session-expired' }])
    expect(client.state).toBe('signed-out')
    expect(await storage.get()).toBeNull()
  })

  it('retries at most once on TOKEN_REVOKED: an API that always says it gets one refresh, one retry, then its 401', async () => {
    const api = fakeApi({ handler: () => problem(401, 'TOKEN_REVOKED') })
    const { client } = await signedIn({ fetch: api.fetch })
    const refreshesBefore = server.hitsOf(REFRESH)

    const response = await client.fetch('http://api.test/always-revoked')

    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ code: 'TOKEN_REVOKED' })
    expect(api.seen).toHaveLength(2)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
  })

  it("leaves a caller's own Authorization header alone and keeps its other headers", async () => {
    const api = fakeApi({ handler: () => new Response('ok') })
    const { client } = await signedIn({ fetch: api.fetch })

    await client.fetch('http://api.test/basic', { headers: { authorization: 'Basic dXNlcjpwYXNz' } })
    await client.fetch(new Request('http://api.test/own', { headers: { 'x-trace': 'abc' } }))

    expect(api.seen[0]?.headers.get('authorization')).toBe('Basic dXNlcjpwYXNz')
    expect(api.seen[1]?.headers.get('authorization')).toMatch(/^Bearer ey/)
    expect(api.seen[1]?.headers.get('x-trace')).toBe('abc')
  })

  it('retries a Request with a body with the same body', async () => {
    let calls = 0
    const api = fakeApi({
      handler: async (request) => {
        calls += 1
        return calls === 1 ? problem(401, 'TOKEN_EXPIRED') : new Response(await request.text())
      },
    })
    const { client } = await signedIn({ fetch: api.fetch })

    const response = await client.fetch(
      new Request('http://api.test/upload', { method: 'POST', body: 'payload' }),
    )

    expect(await response.text()).toBe('payload')
    expect(api.seen).toHaveLength(2)
    expect(await api.seen[0]?.text()).toBe('payload')
  })

  it('does not retry a ReadableStream body: the 401 comes back and the next call refreshes first', async () => {
    let expired = true
    const api = fakeApi({ handler: () => (expired ? problem(401, 'TOKEN_EXPIRED') : new Response('ok')) })
    const { client } = await signedIn({ fetch: api.fetch })
    const refreshesBefore = server.hitsOf(REFRESH)
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'))
        controller.close()
      },
    })

    const response = await client.fetch('http://api.test/stream', {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit)

    expect(response.status).toBe(401)
    expect(api.seen).toHaveLength(1)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(0)

    expired = false
    const next = await client.fetch('http://api.test/after', { method: 'POST', body: 'again' })
    expect(next.status).toBe(200)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    expect(api.seen[1]?.headers.get('authorization')).not.toBe(api.seen[0]?.headers.get('authorization'))
  })
})
