import { randomUUID } from 'node:crypto'
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createVerifier,
  type RevocationFeedOptions,
  type RevocationFeedStatus,
  TesseraAuthError,
  type Verifier,
  type VerifierOptions,
} from '../src/index.js'
import { bearer } from './helpers/apps.js'
import { expectProblem } from './helpers/expect.js'
import { type FeedServer, type FeedServerOptions, startFeedServer, until } from './helpers/feed-server.js'
import { SERVICE_FRAMEWORKS } from './helpers/service-apps.js'
import { accessClaims, sign } from './helpers/tokens.js'

const CLIENT_ID = 'svc_orders'
// a colon and a slash: both must be percent-encoded before base64 (RFC 6749 §2.3.1)
const CLIENT_SECRET = 'se:cr/et'
const START = new Date('2030-01-01T00:00:00Z')

let privateKey: CryptoKey
let publicJwk: JWK
let nowMs = START.getTime()
const clock = { now: () => new Date(nowMs) }
const now = (): number => Math.floor(nowMs / 1000)

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }
})

const closers: Array<() => Promise<unknown>> = []
beforeEach(() => {
  nowMs = START.getTime()
})
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

async function feedServer(options: Partial<FeedServerOptions> = {}): Promise<FeedServer> {
  const server = await startFeedServer({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...options })
  closers.push(() => server.close())
  return server
}

/** A verifier following `feed` with tiny delays, its own clock and a recording logger. */
function follow(
  feed: FeedServer,
  revocations: Partial<RevocationFeedOptions> = {},
  options: Partial<VerifierOptions> = {},
) {
  const warnings: string[] = []
  const states: RevocationFeedStatus[] = []
  const verifier = createVerifier({
    issuer: feed.url,
    audience: 'tessera',
    jwks: { keys: [publicJwk] },
    clock,
    logger: { warn: (message) => warnings.push(message) },
    ...options,
    revocations: {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      reconnectDelay: 0.01,
      maxReconnectDelay: 0.05,
      onStateChange: (status) => states.push(status),
      ...revocations,
    },
  })
  closers.push(() => verifier.close())
  return { verifier, warnings, states }
}

const stateOf = (verifier: Verifier) => verifier.revocationFeed()?.state
const live = (verifier: Verifier) => until(() => stateOf(verifier) === 'live', 'the feed to be live')
const applied = (verifier: Verifier, id: string) =>
  until(() => verifier.revocationFeed()?.lastEventId === id, `event ${id} to be applied`)

/** A token of `issuer` issued now (the fixed clock) for 15 minutes. */
const tokenOf = (issuer: string, overrides: JWTPayload = {}) =>
  sign(
    accessClaims(issuer, { iat: now(), exp: now() + 900, ...overrides }),
    { alg: 'RS256', kid: 'k1', typ: 'at+jwt' },
    privateKey,
  )

async function refusal(promise: Promise<unknown>): Promise<TesseraAuthError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraAuthError)
  return error as TesseraAuthError
}

describe('revocations options', () => {
  const base = { issuer: 'https://auth.example.com', audience: 'tessera', jwks: { keys: [] as JWK[] } }
  const revocations = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }
  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 'yes', /revocations must be an object/],
    ['no clientId', { clientSecret: 'x' }, /revocations\.clientId is required/],
    ['no clientSecret', { clientId: CLIENT_ID }, /revocations\.clientSecret is required/],
    ['an unknown onFeedLost', { ...revocations, onFeedLost: 'ignore' }, /revocations\.onFeedLost must be/],
    ['maxEntries 0', { ...revocations, maxEntries: 0 }, /revocations\.maxEntries/],
    ['maxEntries 1.5', { ...revocations, maxEntries: 1.5 }, /revocations\.maxEntries/],
    ['a url that is not http(s)', { ...revocations, url: 'ftp://x/feed' }, /revocations\.url/],
    ['a negative reconnectDelay', { ...revocations, reconnectDelay: -1 }, /revocations\.reconnectDelay/],
    ['idleTimeout 0', { ...revocations, idleTimeout: 0 }, /revocations\.idleTimeout/],
    [
      'maxReconnectDelay below reconnectDelay',
      { ...revocations, reconnectDelay: 5, maxReconnectDelay: 1 },
      /revocations\.maxReconnectDelay/,
    ],
    ['an onStateChange that is no function', { ...revocations, onStateChange: 1 }, /onStateChange/],
  ]
  it.each(bad)('throws a TypeError naming the option for %s', (_name, value, message) => {
    const build = () =>
      createVerifier({
        ...base,
        jwks: { keys: [publicJwk] },
        revocations: value as RevocationFeedOptions,
      })
    expect(build).toThrow(TypeError)
    expect(build).toThrow(message)
  })

  it('has no feed, and close() resolves at once, without the option', async () => {
    const verifier = createVerifier({ ...base, jwks: { keys: [publicJwk] } })
    expect(verifier.revocationFeed()).toBeUndefined()
    await expect(verifier.close()).resolves.toBeUndefined()
  })
})

describe('following the revocation feed', () => {
  it('connects with Basic credentials (each part percent-encoded), Accept: text/event-stream, and goes live', async () => {
    const feed = await feedServer()
    const { verifier, states } = follow(feed)
    expect(stateOf(verifier)).toBe('connecting')
    await live(verifier)
    const [request] = feed.requests
    expect(request?.authorization).toBe(`Basic ${Buffer.from('svc_orders:se%3Acr%2Fet').toString('base64')}`)
    expect(request?.accept).toBe('text/event-stream')
    expect(request?.['last-event-id']).toBeUndefined()
    expect(states.map((status) => status.state)).toEqual(['live'])
    expect(verifier.revocationFeed()).toEqual({
      state: 'live',
      lastEventId: undefined,
      lostSince: undefined,
      entries: 0,
      lastError: undefined,
    })
  })

  it('refuses every token of a revoked session as TOKEN_REVOKED, cached ones included, and no other', async () => {
    const feed = await feedServer()
    const { verifier } = follow(feed)
    await live(verifier)
    const sid = randomUUID()
    const token = await tokenOf(feed.url, { sid })
    const sameSession = await tokenOf(feed.url, { sid, jti: randomUUID() })
    const otherSession = await tokenOf(feed.url)
    await expect(verifier.verify(token)).resolves.toMatchObject({ sid })
    expect(verifier.cacheStats().size).toBe(1)

    const id = feed.publish({ event: 'session', data: { sid, sub: randomUUID(), until: now() + 900 } })
    await applied(verifier, id)

    const revoked = await refusal(verifier.verify(token))
    expect(revoked).toMatchObject({ code: 'TOKEN_REVOKED', status: 401 })
    expect((await refusal(verifier.verify(sameSession))).code).toBe('TOKEN_REVOKED')
    await expect(verifier.verify(otherSession)).resolves.toMatchObject({ iss: feed.url })
    // the refused token left the cache: it is not remembered as valid
    expect(verifier.cacheStats().size).toBe(1)
    expect(verifier.revocationFeed()?.entries).toBe(1)
  })

  it('refuses tokens of a user issued before notBefore, and accepts those issued at it, even a second ahead', async () => {
    const feed = await feedServer()
    const { verifier } = follow(feed)
    await live(verifier)
    const sub = randomUUID()
    const before = await tokenOf(feed.url, { sub })
    const otherUser = await tokenOf(feed.url)
    await expect(verifier.verify(before)).resolves.toMatchObject({ sub })

    // a role change now: notBefore is the next whole second, and the server issues iat = notBefore
    const notBefore = now() + 1
    const id = feed.publish({ event: 'user', data: { sub, notBefore, until: now() + 900 } })
    await applied(verifier, id)

    expect((await refusal(verifier.verify(before))).code).toBe('TOKEN_REVOKED')
    await expect(verifier.verify(otherUser)).resolves.toMatchObject({ iss: feed.url })
    const refreshed = await tokenOf(feed.url, { sub, iat: notBefore, exp: notBefore + 900 })
    await expect(verifier.verify(refreshed)).resolves.toMatchObject({ sub, iat: notBefore })
  })

  it('applies a user event to a service client id as to any sub', async () => {
    const feed = await feedServer()
    const { verifier } = follow(feed)
    await live(verifier)
    const service = await tokenOf(feed.url, {
      sub: 'svc_billing',
      client_id: 'svc_billing',
      scope: 'orders:read',
      sid: undefined,
      roles: undefined,
      email: undefined,
      email_verified: undefined,
    })
    await expect(verifier.verify(service)).resolves.toMatchObject({ client_id: 'svc_billing' })
    const id = feed.publish({
      event: 'user',
      data: { sub: 'svc_billing', notBefore: now() + 1, until: now() + 3600 },
    })
    await applied(verifier, id)
    expect((await refusal(verifier.verify(service))).code).toBe('TOKEN_REVOKED')
  })

  it('gets every kept event on its first connection', async () => {
    const feed = await feedServer()
    const sid = randomUUID()
    feed.publish({ event: 'session', data: { sid, sub: randomUUID(), until: now() + 900 } })
    const id = feed.publish({
      event: 'session',
      data: { sid: randomUUID(), sub: randomUUID(), until: now() + 900 },
    })
    const { verifier } = follow(feed)
    await applied(verifier, id)
    expect(verifier.revocationFeed()?.entries).toBe(2)
    expect((await refusal(verifier.verify(await tokenOf(feed.url, { sid })))).code).toBe('TOKEN_REVOKED')
  })

  it('resumes with Last-Event-ID after a disconnect and catches up on what happened meanwhile', async () => {
    const feed = await feedServer()
    const { verifier, warnings } = follow(feed)
    const first = feed.publish({
      event: 'session',
      data: { sid: randomUUID(), sub: randomUUID(), until: now() + 900 },
    })
    await applied(verifier, first)

    // the server goes away; a logout happens while we are not connected
    feed.answer({ kind: 'status', status: 503 })
    feed.dropStreams()
    await until(() => stateOf(verifier) === 'lost', 'the feed to be lost')
    const sid = randomUUID()
    const token = await tokenOf(feed.url, { sid })
    await expect(verifier.verify(token)).resolves.toMatchObject({ sid })
    const second = feed.publish({ event: 'session', data: { sid, sub: randomUUID(), until: now() + 900 } })

    feed.answer({ kind: 'stream' })
    await applied(verifier, second)
    expect(stateOf(verifier)).toBe('live')
    expect(feed.requests.at(-1)?.['last-event-id']).toBe(first)
    expect((await refusal(verifier.verify(token))).code).toBe('TOKEN_REVOKED')
    expect(warnings.filter((warning) => /is lost/.test(warning))).toHaveLength(1)
    expect(
      warnings.filter((warning) => /is back after/.test(warning)),
      warnings.join('\n'),
    ).toHaveLength(1)
  })

  it('refuses every token issued before notBefore after a reset (its Last-Event-ID was too old)', async () => {
    const feed = await feedServer()
    const { verifier } = follow(feed)
    const first = feed.publish({
      event: 'session',
      data: { sid: randomUUID(), sub: randomUUID(), until: now() + 900 },
    })
    await applied(verifier, first)
    feed.answer({ kind: 'status', status: 503 })
    feed.dropStreams()
    await until(() => stateOf(verifier) === 'lost', 'the feed to be lost')

    const old = await tokenOf(feed.url)
    nowMs += 10_000
    const second = feed.publish({
      event: 'session',
      data: { sid: randomUUID(), sub: randomUUID(), until: now() + 900 },
    })
    // the server no longer keeps event 1 nor 2: our Last-Event-ID (1) is too old
    feed.forgetUpTo(Number(second), now())
    feed.answer({ kind: 'stream' })
    await applied(verifier, second)

    expect(feed.requests.at(-1)?.['last-event-id']).toBe(first)
    expect((await refusal(verifier.verify(old))).code).toBe('TOKEN_REVOKED')
    await expect(verifier.verify(await tokenOf(feed.url))).resolves.toMatchObject({ iss: feed.url })
  })

  it('drops entries once their until has passed (the verifier clock)', async () => {
    const feed = await feedServer()
    const { verifier } = follow(feed)
    await live(verifier)
    const sid = randomUUID()
    const sub = randomUUID()
    const bySession = await tokenOf(feed.url, { sid, exp: now() + 7200 })
    const byUser = await tokenOf(feed.url, { sub, exp: now() + 7200 })
    feed.publish({ event: 'session', data: { sid, sub: randomUUID(), until: now() + 60 } })
    const id = feed.publish({ event: 'user', data: { sub, notBefore: now() + 1, until: now() + 120 } })
    await applied(verifier, id)
    expect(verifier.revocationFeed()?.entries).toBe(2)

    nowMs += 60_000
    expect(verifier.revocationFeed()?.entries).toBe(1)
    // a token outliving its revocation entry does not exist (until is its latest exp); this one
    // shows the entry is gone
    await expect(verifier.verify(bySession)).resolves.toMatchObject({ sid })
    expect((await refusal(verifier.verify(byUser))).code).toBe('TOKEN_REVOKED')
    nowMs += 60_000
    expect(verifier.revocationFeed()?.entries).toBe(0)
    await expect(verifier.verify(byUser)).resolves.toMatchObject({ sub })
  })

  it('ignores an event whose until has passed, a malformed event (warned once) and unknown event types', async () => {
    const feed = await feedServer()
    const { verifier, warnings } = follow(feed)
    await live(verifier)
    feed.publish({ event: 'session', data: { sid: randomUUID(), sub: randomUUID(), until: now() - 1 } })
    feed.publish({ event: 'session', data: { sid: 42 } as never })
    feed.publish({ event: 'session', data: { sid: 43 } as never })
    const id = feed.publish({ event: 'token-claims-change' as never, data: { whatever: true } as never })
    await applied(verifier, id)
    expect(verifier.revocationFeed()?.entries).toBe(0)
    expect(warnings.filter((warning) => /malformed "session" event/.test(warning))).toHaveLength(1)
  })

  it('holds at most maxEntries, dropping the entries that expire soonest', async () => {
    const feed = await feedServer()
    const { verifier } = follow(feed, { maxEntries: 50 })
    await live(verifier)
    // 200 sessions in a shuffled order of until; the 50 latest must stay
    const untils = Array.from({ length: 200 }, (_, i) => now() + 100 + i).sort(() => Math.random() - 0.5)
    const sids = new Map<number, string>()
    let id = ''
    for (const until of untils) {
      const sid = randomUUID()
      sids.set(until, sid)
      id = feed.publish({ event: 'session', data: { sid, sub: randomUUID(), until } })
    }
    await applied(verifier, id)
    expect(verifier.revocationFeed()?.entries).toBe(50)
    for (const [until, sid] of sids) {
      const result = verifier.verify(await tokenOf(feed.url, { sid }))
      if (until >= now() + 250) expect((await refusal(result)).code).toBe('TOKEN_REVOKED')
      else await expect(result).resolves.toMatchObject({ sid })
    }
  })

  it('replaces a connection that brings no byte for idleTimeout, and counts a ping as a byte', async () => {
    const feed = await feedServer()
    feed.answer({ kind: 'silent' })
    const { verifier, warnings, states } = follow(feed, { idleTimeout: 0.15 })
    await live(verifier)
    // live again soon after (each new connection is silent too): watch the changes, not the state
    await until(() => states.some((s) => s.state === 'lost'), 'the silent connection to be dropped', 2000)
    expect(states.find((s) => s.state === 'lost')?.lastError).toMatch(/no data for 0\.15 s/)
    expect(warnings.some((warning) => /no data for 0\.15 s/.test(warning))).toBe(true)
    await until(() => feed.requests.length >= 2, 'a new connection', 2000)
  })

  it('stays live while pings keep coming', async () => {
    const feed = await feedServer()
    const { verifier } = follow(feed, { idleTimeout: 0.15 })
    await live(verifier)
    for (let i = 0; i < 6; i++) {
      feed.ping()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(stateOf(verifier)).toBe('live')
    expect(feed.requests).toHaveLength(1)
  })

  it("caps the server's retry: at maxReconnectDelay", async () => {
    // the server asks for 10 minutes between attempts; maxReconnectDelay says 50 ms
    const feed = await feedServer({ retryMs: 600_000 })
    const { verifier } = follow(feed)
    await live(verifier)
    feed.dropStreams()
    await until(() => feed.requests.length >= 2, 'a reconnection within the cap', 2000)
    await live(verifier)
  })

  it('says so once when the credentials are refused, keeps retrying slowly, and accepts tokens meanwhile', async () => {
    const feed = await feedServer()
    const { verifier, warnings } = follow(feed, { clientSecret: 'wrong' })
    await until(() => feed.requests.length >= 3, 'three attempts', 3000)
    expect(stateOf(verifier)).toBe('lost')
    expect(verifier.revocationFeed()?.lastError).toMatch(/refused the credentials \(401/)
    expect(warnings.filter((warning) => /clientSecret/.test(warning))).toHaveLength(1)
    expect(warnings.filter((warning) => /is lost/.test(warning))).toHaveLength(1)
    await expect(verifier.verify(await tokenOf(feed.url))).resolves.toMatchObject({ iss: feed.url })
  })

  it("with onFeedLost 'accept' (the default), keeps accepting tokens while the feed is lost", async () => {
    const feed = await feedServer()
    const { verifier, warnings, states } = follow(feed)
    await live(verifier)
    feed.answer({ kind: 'status', status: 502 })
    feed.dropStreams()
    await until(() => stateOf(verifier) === 'lost', 'the feed to be lost')
    const status = verifier.revocationFeed()
    expect(status?.lostSince).toEqual(START)
    expect(status?.lastError).toEqual(expect.any(String))
    await expect(verifier.verify(await tokenOf(feed.url))).resolves.toMatchObject({ iss: feed.url })
    // retried meanwhile, yet one warning for the whole outage
    await until(() => feed.requests.length >= 4, 'more attempts', 3000)
    expect(warnings.filter((warning) => /is lost/.test(warning))).toHaveLength(1)
    expect(warnings[0]).toMatch(/onFeedLost: accept/)
    expect(states.map((s) => s.state)).toEqual(['live', 'lost'])
  })

  it("with onFeedLost 'reject', refuses every token with SERVICE_UNAVAILABLE until the feed is live", async () => {
    const feed = await feedServer()
    feed.answer({ kind: 'status', status: 503 })
    const { verifier } = follow(feed, { onFeedLost: 'reject' })
    const token = await tokenOf(feed.url)
    // before the first connection
    const unavailable = await refusal(verifier.verify(token))
    expect(unavailable).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 })
    expect(unavailable.retryAfter).toBeGreaterThanOrEqual(1)
    await until(() => stateOf(verifier) === 'lost', 'the feed to be lost')
    expect((await refusal(verifier.verify(token))).code).toBe('SERVICE_UNAVAILABLE')

    feed.answer({ kind: 'stream' })
    await live(verifier)
    await expect(verifier.verify(token)).resolves.toMatchObject({ iss: feed.url })

    feed.answer({ kind: 'status', status: 503 })
    feed.dropStreams()
    await until(() => stateOf(verifier) === 'lost', 'the feed to be lost again')
    // a token the cache remembers is refused too
    expect((await refusal(verifier.verify(token))).code).toBe('SERVICE_UNAVAILABLE')
  })

  it('stops on close(): the stream is closed, no new attempt is made, and the state is closed', async () => {
    const feed = await feedServer()
    const { verifier, states } = follow(feed)
    await live(verifier)
    await until(() => feed.openStreams() === 1, 'the stream to be open')
    await verifier.close()
    expect(stateOf(verifier)).toBe('closed')
    await until(() => feed.openStreams() === 0, 'the stream to be closed')
    const requests = feed.requests.length
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(feed.requests).toHaveLength(requests)
    expect(states.at(-1)?.state).toBe('closed')
  })

  it('finds the feed in the discovery document when the verifier discovers its keys', async () => {
    const feed = await feedServer({ jwks: { keys: [] }, feedPath: '/custom/revocations' })
    const { verifier } = follow(feed, {}, { jwks: undefined })
    await live(verifier)
    expect(feed.requests).toHaveLength(1)
  })

  it('goes to revocations.url when given', async () => {
    const feed = await feedServer({ feedPath: '/elsewhere' })
    const { verifier } = follow(feed, { url: `${feed.url}/elsewhere` })
    await live(verifier)
    expect(feed.requests).toHaveLength(1)
  })
})

describe.each(SERVICE_FRAMEWORKS)('$framework middleware following the feed', ({ framework, start }) => {
  const appOptions = (feed: FeedServer, revocations: Partial<RevocationFeedOptions> = {}) => ({
    issuer: feed.url,
    audience: 'tessera',
    jwks: { keys: [publicJwk] },
    clock,
    logger: false as const,
    revocations: {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      reconnectDelay: 0.01,
      maxReconnectDelay: 0.05,
      ...revocations,
    },
  })

  it('answers 401 TOKEN_REVOKED with an invalid_token challenge for a revoked session', async () => {
    const feed = await feedServer()
    const app = await start(appOptions(feed))
    closers.push(async () => {
      await app.close()
      await app.verifier.close()
    })
    await live(app.verifier)
    const sid = randomUUID()
    const token = await tokenOf(feed.url, { sid })
    expect((await app.get('/me', bearer(token))).status).toBe(200)
    const id = feed.publish({ event: 'session', data: { sid, sub: randomUUID(), until: now() + 900 } })
    await applied(app.verifier, id)
    expectProblem(await app.get('/me', bearer(token)), 'TOKEN_REVOKED')
    expectProblem(await app.get('/maybe', bearer(token)), 'TOKEN_REVOKED')
  })

  it("answers 503 SERVICE_UNAVAILABLE with Retry-After while the feed is down with onFeedLost 'reject'", async () => {
    const feed = await feedServer()
    feed.answer({ kind: 'status', status: 503 })
    const app = await start(appOptions(feed, { onFeedLost: 'reject' }))
    closers.push(async () => {
      await app.close()
      await app.verifier.close()
    })
    const result = await app.get('/me', bearer(await tokenOf(feed.url)))
    expectProblem(result, 'SERVICE_UNAVAILABLE')
    expect(Number(result.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    feed.answer({ kind: 'stream' })
    await live(app.verifier)
    expect((await app.get('/me', bearer(await tokenOf(feed.url)))).status).toBe(200)
  })

  if (framework === 'Fastify') {
    it('closes the feed of the verifier the plugin built when the app closes', async () => {
      const feed = await feedServer()
      const app = await start(appOptions(feed))
      await live(app.verifier)
      await until(() => feed.openStreams() === 1, 'the stream to be open')
      await app.close()
      expect(stateOf(app.verifier)).toBe('closed')
      await until(() => feed.openStreams() === 0, 'the stream to be closed')
    })
  }
})
