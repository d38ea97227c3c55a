import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  broadcastLock,
  createClient,
  type FetchLike,
  type LockManagerLike,
  type TesseraClient,
  TesseraClientError,
} from '../src/index.js'
import { problem } from './helpers/fetch.js'

const BASE = 'http://auth.test'
const user = {
  id: '7d1c8f9e-1111-4222-8333-944455556666',
  email: 'ada@example.com',
  name: null,
  roles: ['user'],
  emailVerified: false,
  createdAt: '2025-01-01T00:00:00.000Z',
}

/** A stand-in auth server whose refresh answers what `answer` says. */
function fakeAuth(answer: () => Response) {
  let refreshes = 0
  const fetch: FetchLike = async (input) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (url.pathname !== '/auth/refresh') throw new Error(`unexpected request to ${url.pathname}`)
    refreshes += 1
    return answer()
  }
  return { fetch, refreshes: () => refreshes }
}

let counter = 0
const tokenResponse = () =>
  Response.json({ user, accessToken: `token-${++counter}`, tokenType: 'Bearer', expiresIn: 900 })

const open: { close(): void }[] = []
afterEach(() => {
  for (const closable of open.splice(0)) closable.close()
  vi.unstubAllGlobals()
})

describe('the default lock', () => {
  it('is navigator.locks, lock "tessera-refresh", in cookie mode where the Web Locks API exists', async () => {
    const names: string[] = []
    const locks: LockManagerLike = {
      request(name, callback) {
        names.push(name)
        return callback()
      },
    }
    vi.stubGlobal('navigator', { locks })
    const auth = fakeAuth(tokenResponse)
    const client: TesseraClient = createClient({ baseUrl: BASE, tokenDelivery: 'cookie', fetch: auth.fetch })
    open.push(client)

    expect(await client.restore()).toEqual(user)

    expect(names).toEqual(['tessera-refresh'])
    expect(auth.refreshes()).toBe(1)
  })

  it('is not used in body mode, where each client has its own session', async () => {
    const request = vi.fn()
    vi.stubGlobal('navigator', { locks: { request } })
    const client = createClient({
      baseUrl: BASE,
      tokenDelivery: 'body',
      fetch: fakeAuth(tokenResponse).fetch,
    })

    expect(await client.restore()).toBeNull()

    expect(request).not.toHaveBeenCalled()
  })

  it('keeps working after close(), without the other tabs', async () => {
    const auth = fakeAuth(tokenResponse)
    // Node has no navigator.locks: cookie mode falls back to the BroadcastChannel lock
    const client = createClient({ baseUrl: BASE, tokenDelivery: 'cookie', fetch: auth.fetch })
    client.close()

    expect(await client.restore()).toEqual(user)
    expect(auth.refreshes()).toBe(1)
  })
})

describe('broadcastLock', () => {
  it('lets one holder at a time run, across two channels of one name', async () => {
    const name = `lock-test-${Math.random()}`
    const first = broadcastLock(name, { settle: 10 })
    const second = broadcastLock(name, { settle: 10 })
    open.push(first, second)
    let running = 0
    let most = 0
    const task = (label: string) => async () => {
      running += 1
      most = Math.max(most, running)
      await new Promise((resolve) => setTimeout(resolve, 15))
      running -= 1
      return label
    }

    const results = await Promise.all([
      first.run(task('a1')),
      second.run(task('b1')),
      first.run(task('a2')),
      second.run(task('b2')),
    ])

    expect(results).toEqual(['a1', 'b1', 'a2', 'b2'])
    expect(most).toBe(1)
  })

  it('passes a failing task on to its caller and releases the lock', async () => {
    const lock = broadcastLock(`lock-test-${Math.random()}`, { settle: 5 })
    open.push(lock)

    await expect(lock.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await lock.run(async () => 'next')).toBe('next')
  })
})

describe('refresh errors without a server', () => {
  it('reads an HTTP-date Retry-After as seconds from the local clock', async () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 0)
    const retryAt = new Date(now + 120_000).toUTCString()
    const auth = fakeAuth(() => problem(429, 'RATE_LIMITED', { 'retry-after': retryAt }))
    const client = createClient({
      baseUrl: BASE,
      tokenDelivery: 'cookie',
      crossTab: false,
      fetch: auth.fetch,
      now: () => now,
    })

    const error = await client.restore().catch((caught: unknown) => caught)

    expect(error).toBeInstanceOf(TesseraClientError)
    expect(error).toMatchObject({ code: 'REFRESH_FAILED', retryable: true, retryAfter: 120, status: 429 })
    expect(client.state).toBe('unknown')
  })

  it('keeps the session on an unexpected 4xx, but says retrying will not help', async () => {
    const auth = fakeAuth(() => problem(403, 'FORBIDDEN'))
    const client = createClient({
      baseUrl: BASE,
      tokenDelivery: 'cookie',
      crossTab: false,
      fetch: auth.fetch,
    })

    await expect(client.getAccessToken()).rejects.toMatchObject({ code: 'REFRESH_FAILED', retryable: false })
    expect(client.state).toBe('unknown')
  })

  it('rejects a success answer that is not a token response with BAD_RESPONSE', async () => {
    const auth = fakeAuth(() => Response.json({ accessToken: 'x' }))
    const client = createClient({
      baseUrl: BASE,
      tokenDelivery: 'cookie',
      crossTab: false,
      fetch: auth.fetch,
    })

    await expect(client.restore()).rejects.toMatchObject({ code: 'BAD_RESPONSE' })
  })
})
