import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type ClientEvent,
  type ClientOptions,
  createClient,
  type FetchLike,
  memoryStorage,
  type TesseraClient,
  TesseraClientError,
} from '../src/index.js'
import { FAKE, type FakeAccountServer, startFakeAccountServer } from './helpers/fake-account-server.js'
import { cookieJar, recordingFetch } from './helpers/fetch.js'
import {
  expectSignedIn,
  manualClock,
  PASSWORD,
  type RunningServer,
  startServer,
  uniqueEmail,
} from './helpers/server.js'

async function caught(promise: Promise<unknown>): Promise<TesseraClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraClientError)
  return error as TesseraClientError
}

const open: TesseraClient[] = []
afterEach(() => {
  for (const client of open.splice(0)) client.close()
})

/** A client with its events recorded; closed after the test. */
function tracked(options: ClientOptions) {
  const client = createClient(options)
  open.push(client)
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, events }
}

const NEW_PASSWORD = 'purple elephants juggle seventeen lamps'

describe('against a server that follows the contract', () => {
  let fake: FakeAccountServer
  beforeEach(async () => {
    fake = await startFakeAccountServer()
  })
  afterEach(async () => {
    await fake.close()
  })

  /** Node, body mode: the refresh token in `storage`. */
  function bodyClient(options: Partial<ClientOptions> = {}) {
    const recording = recordingFetch(options.fetch)
    const storage = memoryStorage()
    const clock = manualClock()
    const context = tracked({
      baseUrl: fake.baseUrl,
      tokenDelivery: 'body',
      storage,
      now: clock.now,
      ...options,
      fetch: recording.fetch,
    })
    return { ...context, storage, clock, recording }
  }

  /** A browser tab in Node: cookie mode over a cookie jar. */
  function cookieClient() {
    const jar = cookieJar()
    const recording = recordingFetch(jar.fetch)
    const tab = tracked({
      baseUrl: fake.baseUrl,
      tokenDelivery: 'cookie',
      crossTab: false,
      fetch: recording.fetch,
    })
    return { ...tab, jar, recording }
  }

  /** The calls that need no session, with a valid input and their path. */
  const unauthenticated = [
    {
      name: 'forgotPassword',
      path: '/auth/forgot-password',
      call: (client: TesseraClient) => client.forgotPassword({ email: FAKE.email }),
      body: { email: FAKE.email },
    },
    {
      name: 'resetPassword',
      path: '/auth/reset-password',
      call: (client: TesseraClient) =>
        client.resetPassword({ token: FAKE.resetToken, password: NEW_PASSWORD }),
      body: { token: FAKE.resetToken, password: NEW_PASSWORD },
    },
    {
      name: 'verifyEmail',
      path: '/auth/verify-email',
      call: (client: TesseraClient) => client.verifyEmail({ token: FAKE.verifyToken }),
      body: { token: FAKE.verifyToken },
    },
    {
      name: 'resendVerification',
      path: '/auth/verify-email/resend',
      call: (client: TesseraClient) => client.resendVerification({ email: FAKE.email }),
      body: { email: FAKE.email },
    },
    {
      name: 'requestMagicLink',
      path: '/auth/magic-link',
      call: (client: TesseraClient) => client.requestMagicLink({ email: FAKE.email }),
      body: { email: FAKE.email },
    },
  ] as const

  describe('the calls without a session', () => {
    for (const { name, path, call, body } of unauthenticated) {
      it(`${name} POSTs exactly ${JSON.stringify(Object.keys(body))} as JSON, without Authorization, and stores nothing`, async () => {
        const { client, events, storage } = bodyClient()

        expect(await call(client)).toBeUndefined()

        const [sent] = fake.to(path)
        expect(fake.requests).toHaveLength(1)
        expect(sent?.method).toBe('POST')
        expect(sent?.headers['content-type']).toBe('application/json')
        expect(sent?.headers.authorization).toBeUndefined()
        expect(sent?.body).toEqual(body)
        expect(client.state).toBe('unknown')
        expect(events).toEqual([])
        expect(await storage.get()).toBeNull()
      })

      it(`${name} sends no Authorization while signed in either`, async () => {
        const { client } = bodyClient()
        await client.login({ email: FAKE.email, password: FAKE.password })

        await call(client)

        expect(fake.to(path)[0]?.headers.authorization).toBeUndefined()
        expect(client.state).toBe('signed-in')
      })
    }

    it('forgotPassword and resendVerification answer the same for an unknown email', async () => {
      const { client } = bodyClient()
      await client.forgotPassword({ email: 'nobody@example.com' })
      await client.resendVerification({ email: 'nobody@example.com' })
      expect(fake.requests.map((request) => request.body)).toEqual([
        { email: 'nobody@example.com' },
        { email: 'nobody@example.com' },
      ])
    })

    it('resetPassword does not sign in, and a session this client held ends at its next refresh', async () => {
      const { client, events, storage, clock } = bodyClient()
      await client.login({ email: FAKE.email, password: FAKE.password })
      const refreshToken = await storage.get()

      await client.resetPassword({ token: FAKE.resetToken, password: NEW_PASSWORD })

      // nothing changes locally until the server is asked
      expect(client.state).toBe('signed-in')
      expect(await storage.get()).toBe(refreshToken)
      expect(fake.to('/auth/login')).toHaveLength(1)
      // the server revoked the session: the next refresh is refused and the client signs out
      clock.advance(FAKE.ttl + 1)
      expect(await client.getAccessToken()).toBeNull()
      expect(events.at(-1)).toEqual({ type: 'signed-out', reason: 'session-expired' })
      expect(await storage.get()).toBeNull()
      // the new password signs in
      await expect(client.login({ email: FAKE.email, password: NEW_PASSWORD })).resolves.toMatchObject({
        status: 'signed-in',
        user: { email: FAKE.email },
      })
    })

    it('resetPassword rejects an unknown or used link with ONE_TIME_TOKEN_INVALID (400)', async () => {
      const { client } = bodyClient()
      const unknown = await caught(client.resetPassword({ token: 'not-a-token', password: NEW_PASSWORD }))
      expect(unknown).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID', status: 400, retryable: false })
      expect(unknown.problem?.code).toBe('ONE_TIME_TOKEN_INVALID')

      await client.resetPassword({ token: FAKE.resetToken, password: NEW_PASSWORD })
      const used = await caught(client.resetPassword({ token: FAKE.resetToken, password: NEW_PASSWORD }))
      expect(used).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID', status: 400 })
    })

    it("resetPassword rejects a weak password with WEAK_PASSWORD (400) and the server's detail", async () => {
      const { client } = bodyClient()
      const error = await caught(
        client.resetPassword({ token: FAKE.resetToken, password: FAKE.weakPassword }),
      )
      expect(error).toMatchObject({ code: 'WEAK_PASSWORD', status: 400, detail: FAKE.weakDetail })
      expect(error.message).toContain(FAKE.weakDetail)
      // the token was not spent
      await expect(
        client.resetPassword({ token: FAKE.resetToken, password: NEW_PASSWORD }),
      ).resolves.toBeUndefined()
    })

    it('resetPassword rejects a bad body with VALIDATION_FAILED (400) and the field errors', async () => {
      const { client } = bodyClient()
      const error = await caught(client.resetPassword({ token: FAKE.resetToken, password: '' }))
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
      expect(error.errors).toEqual([{ field: 'password', message: 'must be a non-empty string' }])
    })

    it('verifyEmail rejects an unknown or used link with ONE_TIME_TOKEN_INVALID (400)', async () => {
      const { client } = bodyClient()
      await client.verifyEmail({ token: FAKE.verifyToken })
      const used = await caught(client.verifyEmail({ token: FAKE.verifyToken }))
      expect(used).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID', status: 400 })
      const unknown = await caught(client.verifyEmail({ token: 'x' }))
      expect(unknown).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID', status: 400 })
    })

    it('forgotPassword, resendVerification and requestMagicLink reject a bad email with VALIDATION_FAILED (400)', async () => {
      const { client } = bodyClient()
      const calls = [
        (email: string) => client.forgotPassword({ email }),
        (email: string) => client.resendVerification({ email }),
        (email: string) => client.requestMagicLink({ email }),
      ]
      for (const call of calls) {
        const error = await caught(call(''))
        expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
        expect(error.errors.map((fieldError) => fieldError.field)).toEqual(['email'])
      }
    })

    for (const { name, path, call } of unauthenticated) {
      it(`${name} maps 429, 503, a proxy's 502 and an unexpected success to typed errors`, async () => {
        const { client } = bodyClient()
        const problemOf = (status: number, code: string) => ({
          status,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '30' },
          body: JSON.stringify({ type: 'about:blank', title: 'Error', status, code, detail: code }),
        })

        fake.answerNext(path, problemOf(429, 'RATE_LIMITED'))
        expect(await caught(call(client))).toMatchObject({
          code: 'RATE_LIMITED',
          status: 429,
          retryable: true,
          retryAfter: 30,
        })
        fake.answerNext(path, problemOf(503, 'SERVICE_UNAVAILABLE'))
        expect(await caught(call(client))).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true })
        fake.answerNext(path, {
          status: 502,
          headers: { 'content-type': 'text/html' },
          body: '<h1>Bad Gateway</h1>',
        })
        expect(await caught(call(client))).toMatchObject({ code: 'HTTP_ERROR', status: 502, retryable: true })
        // a static host answering every path with its index page
        fake.answerNext(path, {
          status: 200,
          headers: { 'content-type': 'text/html' },
          body: '<!doctype html>',
        })
        expect(await caught(call(client))).toMatchObject({ code: 'BAD_RESPONSE', status: 200 })
      })
    }

    it('forgotPassword and resendVerification refuse a 202 that is not { status: "accepted" }', async () => {
      const { client } = bodyClient()
      const accepting = unauthenticated.filter(
        ({ name }) => name === 'forgotPassword' || name === 'resendVerification',
      )
      expect(accepting).toHaveLength(2)
      for (const { path, call } of accepting) {
        fake.answerNext(path, {
          status: 202,
          headers: { 'content-type': 'application/json' },
          body: '{"ok":true}',
        })
        expect(await caught(call(client))).toMatchObject({ code: 'BAD_RESPONSE', status: 202 })
      }
    })

    it('rejects with a retryable NETWORK_ERROR when the server cannot be reached', async () => {
      const client = createClient({ baseUrl: 'http://127.0.0.1:9', tokenDelivery: 'body' })
      for (const { call } of unauthenticated) {
        expect(await caught(call(client))).toMatchObject({ code: 'NETWORK_ERROR', retryable: true })
      }
    })
  })

  describe('changePassword', () => {
    async function signedInBody(options: Partial<ClientOptions> = {}) {
      const context = bodyClient(options)
      await context.client.login({ email: FAKE.email, password: FAKE.password })
      context.events.length = 0
      return context
    }

    it('POSTs { currentPassword, newPassword } with the Bearer token; the session stays as it is', async () => {
      const { client, events, storage } = await signedInBody()
      const accessToken = await client.getAccessToken()
      const refreshToken = await storage.get()

      expect(await client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD })).toBe(
        undefined,
      )

      const [sent] = fake.to('/auth/password')
      expect(sent?.method).toBe('POST')
      expect(sent?.headers['content-type']).toBe('application/json')
      expect(sent?.headers.authorization).toBe(`Bearer ${accessToken}`)
      expect(sent?.body).toEqual({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD })
      expect(fake.password).toBe(NEW_PASSWORD)
      expect(client.state).toBe('signed-in')
      expect(await client.getAccessToken()).toBe(accessToken)
      expect(await storage.get()).toBe(refreshToken)
      expect(fake.to('/auth/refresh')).toHaveLength(0)
      expect(events).toEqual([])
    })

    it('a wrong current password is INVALID_CREDENTIALS (401): no refresh, no sign-out, tokens kept', async () => {
      const { client, events, storage } = await signedInBody()
      const accessToken = await client.getAccessToken()
      const refreshToken = await storage.get()

      const error = await caught(
        client.changePassword({ currentPassword: 'not the password at all', newPassword: NEW_PASSWORD }),
      )

      expect(error).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401, retryable: false })
      expect(fake.to('/auth/password')).toHaveLength(1)
      expect(fake.to('/auth/refresh')).toHaveLength(0)
      expect(client.state).toBe('signed-in')
      expect(events).toEqual([])
      expect(await client.getAccessToken()).toBe(accessToken)
      expect(await storage.get()).toBe(refreshToken)
      // and the session still works
      await client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD })
      expect(fake.password).toBe(NEW_PASSWORD)
    })

    it("a weak new password is WEAK_PASSWORD (400) with the server's detail; a bad body VALIDATION_FAILED", async () => {
      const { client } = await signedInBody()

      const weak = await caught(
        client.changePassword({ currentPassword: FAKE.password, newPassword: FAKE.weakPassword }),
      )
      expect(weak).toMatchObject({ code: 'WEAK_PASSWORD', status: 400, detail: FAKE.weakDetail })

      const invalid = await caught(client.changePassword({ currentPassword: FAKE.password, newPassword: '' }))
      expect(invalid).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
      expect(invalid.errors.map((fieldError) => fieldError.field)).toEqual(['newPassword'])
      expect(client.state).toBe('signed-in')
    })

    it('on TOKEN_EXPIRED refreshes once and sends the same body again with the new token', async () => {
      const { client } = await signedInBody()
      const before = await client.getAccessToken()
      fake.expireAccessTokens()

      await client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD })

      const attempts = fake.to('/auth/password')
      expect(attempts).toHaveLength(2)
      expect(fake.to('/auth/refresh')).toHaveLength(1)
      expect(attempts[0]?.headers.authorization).toBe(`Bearer ${before}`)
      const after = await client.getAccessToken()
      expect(after).not.toBe(before)
      expect(attempts[1]?.headers.authorization).toBe(`Bearer ${after}`)
      expect(attempts[1]?.body).toEqual(attempts[0]?.body)
    })

    it('refreshes first when the access token is about to expire', async () => {
      const { client, clock } = await signedInBody()
      clock.advance(FAKE.ttl)

      await client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD })

      expect(fake.to('/auth/refresh')).toHaveLength(1)
      expect(fake.to('/auth/password')).toHaveLength(1)
    })

    it('without a session rejects with NOT_SIGNED_IN and sends nothing', async () => {
      const fresh = bodyClient()
      const error = await caught(
        fresh.client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD }),
      )
      expect(error).toMatchObject({ code: 'NOT_SIGNED_IN', retryable: false })

      const { client } = await signedInBody()
      await client.logout()
      const afterLogout = await caught(
        client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD }),
      )
      expect(afterLogout.code).toBe('NOT_SIGNED_IN')
      expect(fake.to('/auth/password')).toHaveLength(0)
    })

    it('rejects with a retryable NETWORK_ERROR when the request does not reach the server', async () => {
      const unreachable: FetchLike = (input, init) =>
        String(input).endsWith('/auth/password')
          ? Promise.reject(new TypeError('fetch failed'))
          : fetch(input, init)
      const { client } = await signedInBody({ fetch: unreachable })

      const error = await caught(
        client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD }),
      )

      expect(error).toMatchObject({ code: 'NETWORK_ERROR', retryable: true })
      expect(error.cause).toBeInstanceOf(TypeError)
      expect(client.state).toBe('signed-in')
    })

    it.each([
      ['me', '/auth/me', (client: TesseraClient) => client.me()],
      ['sessions', '/auth/sessions', (client: TesseraClient) => client.sessions()],
      ['logoutAll', '/auth/logout-all', (client: TesseraClient) => client.logoutAll()],
    ] as const)(
      '%s rejects with a retryable NETWORK_ERROR when the request does not reach the server',
      async (_name, path, call) => {
        const unreachable: FetchLike = (input, init) =>
          String(input).endsWith(path) ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init)
        const { client } = await signedInBody({ fetch: unreachable })

        const error = await caught(call(client))

        expect(error).toMatchObject({ code: 'NETWORK_ERROR', retryable: true })
        expect(error.cause).toBeInstanceOf(TypeError)
      },
    )
  })

  describe('register and login with required email verification', () => {
    it("register resolves { status: 'verification_pending' }: no tokens, no session, no event", async () => {
      const { client, events, storage } = bodyClient()

      const result = await client.register({ email: FAKE.email, password: PASSWORD, name: 'Ada' })

      expect(result).toEqual({ status: 'verification_pending' })
      expect(fake.to('/auth/register')[0]?.body).toEqual({
        email: FAKE.email,
        password: PASSWORD,
        name: 'Ada',
        tokenDelivery: 'body',
      })
      expect(client.state).toBe('unknown')
      expect(client.user).toBeNull()
      expect(events).toEqual([])
      expect(await storage.get()).toBeNull()
      expect(await client.getAccessToken()).toBeNull()
    })

    it('register refuses a 202 that is not { status: "verification_pending" }', async () => {
      const { client } = bodyClient()
      fake.answerNext('/auth/register', {
        status: 202,
        headers: { 'content-type': 'application/json' },
        body: '{"status":"accepted"}',
      })
      const error = await caught(client.register({ email: FAKE.email, password: PASSWORD }))
      expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 202 })
    })

    it('login of an unverified account is EMAIL_NOT_VERIFIED (403)', async () => {
      const { client, events } = bodyClient()
      const error = await caught(client.login({ email: FAKE.unverifiedEmail, password: PASSWORD }))
      expect(error).toMatchObject({ code: 'EMAIL_NOT_VERIFIED', status: 403, retryable: false })
      expect(events).toEqual([])
    })
  })

  describe('cookie mode', () => {
    it("every call sends credentials: 'include' and JSON; only changePassword carries Authorization", async () => {
      const { client, jar, recording } = cookieClient()
      expect(await client.register({ email: FAKE.email, password: PASSWORD })).toEqual({
        status: 'verification_pending',
      })
      expect(jar.cookies.size).toBe(0)
      await client.login({ email: FAKE.email, password: FAKE.password })
      const cookie = jar.cookies.get('tessera_refresh')
      expect(cookie).toBeTruthy()

      await client.changePassword({ currentPassword: FAKE.password, newPassword: NEW_PASSWORD })
      for (const { call } of unauthenticated) await call(client)

      const paths = [...unauthenticated.map(({ path }) => path), '/auth/password']
      for (const path of paths) {
        const [sent] = recording.to(path)
        expect(sent?.method, path).toBe('POST')
        expect(sent?.credentials, path).toBe('include')
        expect(sent?.headers.get('content-type'), path).toBe('application/json')
        expect(sent?.headers.has('authorization'), path).toBe(path === '/auth/password')
      }
      expect(recording.to('/auth/register')[0]?.credentials).toBe('include')
      // none of them touched the refresh cookie
      expect(jar.cookies.get('tessera_refresh')).toBe(cookie)
      expect(fake.password).toBe(NEW_PASSWORD)
    })
  })
})

describe('against the real server', () => {
  let server: RunningServer
  let pendingServer: RunningServer
  beforeAll(async () => {
    ;[server, pendingServer] = await Promise.all([
      startServer(),
      startServer({ TESSERA_REQUIRE_EMAIL_VERIFICATION: 'true' }),
    ])
  })
  afterAll(async () => {
    await Promise.all([server?.close(), pendingServer?.close()])
  })

  const REFRESH = 'POST /auth/refresh'

  /** Whether the server has `path` yet (the account-recovery routes are being added). */
  async function hasRoute(baseUrl: string, path: string): Promise<boolean> {
    const response = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    return response.status !== 404
  }

  function bodyClient(baseUrl: string, storage = memoryStorage()) {
    const clock = manualClock()
    const context = tracked({ baseUrl, tokenDelivery: 'body', storage, now: clock.now })
    return { ...context, storage, clock }
  }

  it('forgotPassword and resendVerification resolve alike for a known and an unknown email', async (context) => {
    if (!(await hasRoute(server.baseUrl, '/auth/forgot-password'))) context.skip()
    const email = uniqueEmail('recovery')
    await expectSignedIn(bodyClient(server.baseUrl).client.register({ email, password: PASSWORD }))
    const { client } = bodyClient(server.baseUrl)

    await expect(client.forgotPassword({ email })).resolves.toBeUndefined()
    await expect(client.forgotPassword({ email: uniqueEmail('nobody') })).resolves.toBeUndefined()
    await expect(client.resendVerification({ email })).resolves.toBeUndefined()
    await expect(client.resendVerification({ email: uniqueEmail('nobody') })).resolves.toBeUndefined()
    expect(client.state).toBe('unknown')
  })

  it('changePassword: a wrong current password is INVALID_CREDENTIALS without refresh or sign-out; the right one revokes the other sessions only', async (context) => {
    if (!(await hasRoute(server.baseUrl, '/auth/password'))) context.skip()
    const email = uniqueEmail('change')
    const mine = bodyClient(server.baseUrl)
    await expectSignedIn(mine.client.register({ email, password: PASSWORD }))
    const other = bodyClient(server.baseUrl)
    await other.client.login({ email, password: PASSWORD })
    const refreshesBefore = server.hitsOf(REFRESH)
    mine.events.length = 0

    const wrong = await caught(
      mine.client.changePassword({ currentPassword: 'not the password at all', newPassword: NEW_PASSWORD }),
    )

    expect(wrong).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401 })
    expect(server.hitsOf(REFRESH)).toBe(refreshesBefore)
    expect(mine.client.state).toBe('signed-in')
    expect(mine.events).toEqual([])

    await mine.client.changePassword({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD })

    // the other session's refresh token is refused
    const otherRefresh = await fetch(`${server.baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: await other.storage.get() }),
    })
    expect(otherRefresh.status).toBe(401)
    expect(await otherRefresh.json()).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' })
    // this client keeps working, through a refresh too
    expect((await mine.client.me()).email).toBe(email)
    const beforeOwnRefresh = server.hitsOf(REFRESH)
    mine.clock.advance(11)
    server.advance(11)
    expect((await mine.client.me()).email).toBe(email)
    expect(server.hitsOf(REFRESH)).toBe(beforeOwnRefresh + 1)
    expect(mine.client.state).toBe('signed-in')
    expect(mine.events).toEqual([])
    // the new password is the one that signs in
    const login = bodyClient(server.baseUrl).client
    expect((await caught(login.login({ email, password: PASSWORD }))).code).toBe('INVALID_CREDENTIALS')
    await expect(login.login({ email, password: NEW_PASSWORD })).resolves.toMatchObject({ user: { email } })
  })

  it('resetPassword with the mailed token sets the password without signing in, and ends the sessions', async (context) => {
    if (!(await hasRoute(server.baseUrl, '/auth/reset-password'))) context.skip()
    const email = uniqueEmail('reset')
    const holder = bodyClient(server.baseUrl)
    await expectSignedIn(holder.client.register({ email, password: PASSWORD }))
    const { client, events } = bodyClient(server.baseUrl)

    await client.forgotPassword({ email })
    const token = tokenFromMail(server, email, 'reset-password')

    await client.resetPassword({ token, password: NEW_PASSWORD })

    expect(client.state).toBe('unknown')
    expect(events).toEqual([])
    expect((await caught(client.resetPassword({ token, password: NEW_PASSWORD }))).code).toBe(
      'ONE_TIME_TOKEN_INVALID',
    )
    // the session held elsewhere is over at its next refresh
    holder.clock.advance(11)
    server.advance(11)
    expect(await holder.client.getAccessToken()).toBeNull()
    expect(holder.events.at(-1)).toEqual({ type: 'signed-out', reason: 'session-expired' })
    await expect(client.login({ email, password: NEW_PASSWORD })).resolves.toMatchObject({ user: { email } })
  })

  it("with required verification: register is 'verification_pending', login EMAIL_NOT_VERIFIED until verifyEmail", async (context) => {
    if (!(await hasRoute(pendingServer.baseUrl, '/auth/verify-email'))) context.skip()
    const email = uniqueEmail('pending')
    const { client, events, storage } = bodyClient(pendingServer.baseUrl)

    expect(await client.register({ email, password: PASSWORD })).toEqual({ status: 'verification_pending' })
    expect(events).toEqual([])
    expect(await storage.get()).toBeNull()
    // a taken email answers the same
    expect(await bodyClient(pendingServer.baseUrl).client.register({ email, password: PASSWORD })).toEqual({
      status: 'verification_pending',
    })
    expect((await caught(client.login({ email, password: PASSWORD }))).code).toBe('EMAIL_NOT_VERIFIED')

    const token = tokenFromMail(pendingServer, email, 'verify-email')
    expect((await caught(client.verifyEmail({ token: `${token}x` }))).code).toBe('ONE_TIME_TOKEN_INVALID')
    await client.verifyEmail({ token })

    const result = await client.login({ email, password: PASSWORD })
    expect(result).toMatchObject({ status: 'signed-in', user: { email, emailVerified: true } })
  })
})

/** The `token` of the link in the last mail of `kind` to `to`. */
function tokenFromMail(server: RunningServer, to: string, kind: string): string {
  const mail = server.mails.filter((entry) => entry.to === to && entry.kind === kind).at(-1)
  const token = mail && /[?&]token=([^\s&"<]+)/.exec(mail.text)?.[1]
  if (!token) throw new Error(`no ${kind} mail with a token to ${to}`)
  return decodeURIComponent(token)
}
