import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ClientEvent,
  createClient,
  type FetchLike,
  memoryStorage,
  TesseraClientError,
} from '../src/index.js'
import { recordingFetch } from './helpers/fetch.js'
import { manualClock, PASSWORD, type RunningServer, startServer, uniqueEmail } from './helpers/server.js'

let server: RunningServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(async () => {
  await server?.close()
})

const REFRESH = 'POST /auth/refresh'

function bodyClient(storage = memoryStorage(), fetch?: FetchLike) {
  const client = createClient({
    baseUrl: server.baseUrl,
    tokenDelivery: 'body',
    storage,
    now: manualClock().now,
    ...(fetch ? { fetch } : {}),
  })
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, storage, events }
}

async function caught(promise: Promise<unknown>): Promise<TesseraClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraClientError)
  return error as TesseraClientError
}

describe('register and login', () => {
  it('registers, signs in, stores the refresh token and emits signed-in once', async () => {
    const recording = recordingFetch()
    const { client, storage, events } = bodyClient(memoryStorage(), recording.fetch)
    expect(client.state).toBe('unknown')
    const email = uniqueEmail()

    const result = await client.register({ email, password: PASSWORD, name: 'Ada' })

    expect(result).toMatchObject({
      status: 'signed-in',
      user: { email, name: 'Ada', roles: ['user'], emailVerified: false },
    })
    if (result.status !== 'signed-in') throw new Error('registration opened no session')
    const { user } = result
    expect(client.state).toBe('signed-in')
    expect(client.user).toEqual(user)
    expect(events).toEqual([{ type: 'signed-in', user }])
    expect(await storage.get()).toMatch(/.{40,}/)
    const [sent] = recording.to('/auth/register')
    expect(JSON.parse(sent?.body ?? '{}')).toEqual({
      email,
      password: PASSWORD,
      name: 'Ada',
      tokenDelivery: 'body',
    })
    expect(await client.me()).toEqual(user)
    const sessions = await client.sessions()
    expect(sessions).toHaveLength(1)
    expect(sessions[0]?.current).toBe(true)
  })

  it('logs in to an existing account', async () => {
    const email = uniqueEmail()
    await bodyClient().client.register({ email, password: PASSWORD })
    const { client, events } = bodyClient()

    const result = await client.login({ email, password: PASSWORD })

    expect(result).toMatchObject({ status: 'signed-in', user: { email } })
    const user = result.status === 'signed-in' ? result.user : null
    expect(events).toEqual([{ type: 'signed-in', user }])
    expect((await client.sessions()).length).toBe(2)
  })

  it('rejects a taken email with EMAIL_TAKEN (409)', async () => {
    const email = uniqueEmail()
    await bodyClient().client.register({ email, password: PASSWORD })
    const { client, events } = bodyClient()

    const error = await caught(client.register({ email, password: PASSWORD }))

    expect(error).toMatchObject({ code: 'EMAIL_TAKEN', status: 409, retryable: false })
    expect(error.detail).toBeTruthy()
    expect(client.state).toBe('unknown')
    expect(events).toEqual([])
  })

  it('rejects a wrong password with INVALID_CREDENTIALS (401)', async () => {
    const email = uniqueEmail()
    await bodyClient().client.register({ email, password: PASSWORD })
    const { client, storage } = bodyClient()

    const error = await caught(client.login({ email, password: 'not the password at all' }))

    expect(error).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401 })
    expect(error.problem?.code).toBe('INVALID_CREDENTIALS')
    expect(await storage.get()).toBeNull()
  })

  it('rejects an invalid body with VALIDATION_FAILED (400) and the field errors', async () => {
    const { client } = bodyClient()

    const error = await caught(client.register({ email: 'not-an-email', password: 'short' }))

    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
    const fields = error.errors.map((fieldError) => fieldError.field)
    expect(fields).toContain('email')
    expect(fields).toContain('password')
  })

  it('rejects with a retryable NETWORK_ERROR when the server cannot be reached', async () => {
    const client = createClient({ baseUrl: 'http://127.0.0.1:9', tokenDelivery: 'body' })

    const error = await caught(client.login({ email: uniqueEmail(), password: PASSWORD }))

    expect(error).toMatchObject({ code: 'NETWORK_ERROR', retryable: true })
  })
})

describe('restore', () => {
  it('brings a session back from a stored refresh token', async () => {
    const storage = memoryStorage()
    const email = uniqueEmail()
    await bodyClient(storage).client.register({ email, password: PASSWORD })
    const stored = await storage.get()
    const refreshesBefore = server.hitsOf(REFRESH)
    // a new process: nothing in memory but the storage
    const { client, events } = bodyClient(storage)

    const user = await client.restore()

    expect(user?.email).toBe(email)
    expect(client.state).toBe('signed-in')
    expect(events).toEqual([{ type: 'signed-in', user }])
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
    expect(await storage.get()).not.toBe(stored)
    // the restored access token is used as it is
    expect((await client.fetch(`${server.baseUrl}/auth/me`)).status).toBe(200)
    expect(server.hitsOf(REFRESH) - refreshesBefore).toBe(1)
  })

  it('resolves null without a request when nothing is stored', async () => {
    const recording = recordingFetch()
    const { client, events } = bodyClient(memoryStorage(), recording.fetch)

    expect(await client.restore()).toBeNull()

    expect(recording.requests).toHaveLength(0)
    expect(client.state).toBe('signed-out')
    expect(events).toEqual([{ type: 'signed-out', reason: 'no-session' }])
  })

  it('resolves null and forgets a refresh token the server refuses', async () => {
    const { client, events } = bodyClient(memoryStorage('x'.repeat(43)))

    expect(await client.restore()).toBeNull()

    expect(events).toEqual([{ type: 'signed-out', reason: 'no-session' }])
    expect(await client.getAccessToken()).toBeNull()
  })
})

describe('logout', () => {
  it('clears the tokens, emits signed-out once, and the old refresh token no longer works', async () => {
    const { client, storage, events } = bodyClient()
    await client.register({ email: uniqueEmail(), password: PASSWORD })
    const refreshToken = await storage.get()

    await client.logout()

    expect(events.filter((event) => event.type === 'signed-out')).toEqual([
      { type: 'signed-out', reason: 'logout' },
    ])
    expect(client.state).toBe('signed-out')
    expect(client.user).toBeNull()
    expect(await storage.get()).toBeNull()
    expect(await client.getAccessToken()).toBeNull()
    await expect(client.fetch(`${server.baseUrl}/auth/me`)).rejects.toMatchObject({ code: 'NOT_SIGNED_IN' })
    const refresh = await fetch(`${server.baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken }),
    })
    expect(refresh.status).toBe(401)
    expect(await refresh.json()).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' })
  })

  it('logoutAll ends every session of the user', async () => {
    const email = uniqueEmail()
    const other = bodyClient()
    await other.client.register({ email, password: PASSWORD })
    const { client, events } = bodyClient()
    await client.login({ email, password: PASSWORD })

    await client.logoutAll()

    expect(events.at(-1)).toEqual({ type: 'signed-out', reason: 'logout' })
    expect(client.state).toBe('signed-out')
    // the other session's access token is refused at once (TOKEN_REVOKED), and so is the refresh
    // it triggers: that client is signed out
    await expect(other.client.fetch(`${server.baseUrl}/auth/me`)).rejects.toMatchObject({
      code: 'SESSION_EXPIRED',
    })
    expect(other.events.at(-1)).toEqual({ type: 'signed-out', reason: 'session-expired' })
    expect(await bodyClient(other.storage).client.restore()).toBeNull()
  })
})

describe('options', () => {
  it('throws at creation on a bad value', () => {
    expect(() => createClient({ baseUrl: 'not a url' })).toThrow(TypeError)
    expect(() => createClient({ baseUrl: 'ftp://example.com' })).toThrow(/http or https/)
    expect(() => createClient({ baseUrl: server.baseUrl, refreshMargin: -1 })).toThrow(RangeError)
    expect(() =>
      createClient({
        baseUrl: server.baseUrl,
        tokenDelivery: 'cookie',
        storage: memoryStorage(),
        crossTab: false,
      }),
    ).toThrow(/storage/)
    expect(() => createClient({ baseUrl: server.baseUrl, tokenDelivery: 'header' as 'body' })).toThrow(
      /tokenDelivery/,
    )
  })

  it('defaults to body mode in Node and ignores a trailing slash on baseUrl', async () => {
    const recording = recordingFetch()
    const client = createClient({ baseUrl: `${server.baseUrl}/`, fetch: recording.fetch })
    await client.register({ email: uniqueEmail(), password: PASSWORD })
    const [sent] = recording.requests
    expect(sent?.url).toBe(`${server.baseUrl}/auth/register`)
    expect(JSON.parse(sent?.body ?? '{}').tokenDelivery).toBe('body')
  })
})
