import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { TesseraAuthError } from '../errors.js'
import type {
  FetchLike,
  RevocationFeedConfig,
  RevocationFeedState,
  RevocationFeedStatus,
} from '../verifier-options.js'
import type { RevocableClaims, RevocationList } from './revocation-list.js'

export interface RevocationFeedDeps {
  config: RevocationFeedConfig
  /** The feed's URL: resolved on each connection attempt, as discovery may fail and be retried. */
  url: () => Promise<URL>
  fetch: FetchLike
  list: RevocationList
  /** The verifier's clock. */
  now: () => Date
  logger: { warn(message: string): void } | false
}

/** A subscription to the revocation feed, started when it is built. */
export interface RevocationFeed {
  /**
   * Throws `TOKEN_REVOKED` for a token the feed revoked, and `SERVICE_UNAVAILABLE` with
   * `onFeedLost: 'reject'` while the feed is not live. `now` in seconds since the epoch.
   */
  check(claims: RevocableClaims, now: number): void
  status(): RevocationFeedStatus
  /** Ends the subscription for good; resolves once the connection is closed. */
  close(): Promise<void>
}

/** The server refused our credentials: not a network fault, and retrying soon will not fix it. */
class CredentialsRefused extends Error {}

// one event is a few hundred bytes: a megabyte of unterminated data is a broken stream
const MAX_BUFFER_CHARS = 1 << 20

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)
const isId = (value: unknown): value is string => typeof value === 'string' && value !== ''

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Follows `GET /auth/revocations` (Server-Sent Events, Tessera's API.md "Services and
 * revocation") and writes what it says into `deps.list`:
 * - `session` `{sid, sub, until}`: the session's tokens are revoked;
 * - `user` `{sub, notBefore, until}`: the sub's tokens with `iat` < `notBefore` are stale;
 * - `reset` `{notBefore}`: our `Last-Event-ID` is older than the server keeps, so every token
 *   issued before `notBefore` is refused (clients refresh);
 * - `: ping` comments: only prove the connection alive.
 * Reconnects with `Last-Event-ID` after a failure, a closed stream, or `idleTimeout` without a
 * byte (a half-open TCP connection would otherwise look live for ever), waiting `reconnectDelay`
 * (or the server's `retry:`) doubled per failure in a row, up to `maxReconnectDelay`.
 */
export function followRevocationFeed(deps: RevocationFeedDeps): RevocationFeed {
  const { config, list } = deps
  let state: RevocationFeedState = 'connecting'
  let lastEventId: string | undefined
  let lostSince: Date | undefined
  let lastError: string | undefined
  let serverRetryMs: number | undefined
  let failures = 0
  let credentialsRefused = false
  let warnedMalformed = false
  let feedUrl = '(not resolved yet)'
  // the connection in progress, and the wait between two of them, so close() can end either
  let connection: AbortController | undefined
  let wake: (() => void) | undefined
  let nextAttemptAt: number | undefined
  let closed = false

  const warn = (message: string): void => {
    if (deps.logger) deps.logger.warn(`@tessera/middleware: ${message}`)
  }

  const nowSeconds = (): number => Math.floor(deps.now().getTime() / 1000)
  const status = (): RevocationFeedStatus => {
    list.prune(nowSeconds())
    return { state, lastEventId, lostSince, entries: list.size, lastError }
  }

  function setState(next: RevocationFeedState): void {
    if (state === next) return
    state = next
    try {
      config.onStateChange?.(status())
    } catch (error) {
      // a throwing listener must not stop the subscription it listens to
      warn(`revocations.onStateChange threw: ${describe(error)}`)
    }
  }

  function becameLive(): void {
    failures = 0
    credentialsRefused = false
    if (state === 'lost' && lostSince) {
      const seconds = Math.round((deps.now().getTime() - lostSince.getTime()) / 1000)
      warn(
        `the revocation feed at ${feedUrl} is back after ${seconds} s; catching up after event ` +
          `${lastEventId ?? '(none)'}`,
      )
    }
    lostSince = undefined
    lastError = undefined
    setState('live')
  }

  function failed(error: unknown): void {
    failures++
    lastError = describe(error)
    if (error instanceof CredentialsRefused && !credentialsRefused) {
      credentialsRefused = true
      warn(
        `${lastError}: check revocations.clientId and revocations.clientSecret, and that the client ` +
          `has the revocations:read scope. Retrying every ${config.maxReconnectDelayMs / 1000} s.`,
      )
    }
    if (state === 'lost') return
    lostSince = deps.now()
    warn(
      `the revocation feed at ${feedUrl} is lost (${lastError}). ` +
        (config.onFeedLost === 'accept'
          ? 'Tokens are accepted without the revocations made until it is back (onFeedLost: accept).'
          : 'Every token is refused with 503 until it is back (onFeedLost: reject).'),
    )
    setState('lost')
  }

  function apply(message: EventSourceMessage): void {
    let data: unknown
    try {
      data = JSON.parse(message.data)
    } catch {
      data = undefined
    }
    const now = nowSeconds()
    const event = message.event
    if (event === 'session' && isObject(data) && isId(data.sid) && isTime(data.until)) {
      list.revokeSession(data.sid, data.until, now)
    } else if (
      event === 'user' &&
      isObject(data) &&
      isId(data.sub) &&
      isTime(data.notBefore) &&
      isTime(data.until)
    ) {
      list.staleBefore(data.sub, data.notBefore, data.until, now)
    } else if (event === 'reset' && isObject(data) && isTime(data.notBefore)) {
      list.resetBefore(data.notBefore)
    } else if (event === 'session' || event === 'user' || event === 'reset') {
      if (!warnedMalformed) {
        warnedMalformed = true
        warn(`ignored a malformed "${event}" event from the revocation feed: ${message.data.slice(0, 200)}`)
      }
    }
    // other event types are for later versions of the feed: skipped, but their id still counts
    if (message.id !== undefined) lastEventId = message.id === '' ? undefined : message.id
  }

  /** One connection, from the request to the end of the stream; resolves with why it ended. */
  async function connect(): Promise<string> {
    const url = await deps.url()
    feedUrl = url.href
    const controller = new AbortController()
    connection = controller
    let idleReason: string | undefined
    const idle = setTimeout(() => {
      idleReason = `no data for ${config.idleTimeoutMs / 1000} s`
      controller.abort(new Error(idleReason))
    }, config.idleTimeoutMs)
    idle.unref()
    try {
      const headers: Record<string, string> = {
        accept: 'text/event-stream',
        authorization: config.authorization,
        'cache-control': 'no-cache',
      }
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
      // no redirects: the credentials go to the configured or discovered URL only
      const response = await deps.fetch(url.href, {
        method: 'GET',
        headers,
        redirect: 'manual',
        signal: controller.signal,
      })
      const type = response.headers.get('content-type') ?? ''
      if (response.status !== 200 || !/^text\/event-stream\b/i.test(type) || response.body === null) {
        await response.body?.cancel().catch(() => undefined)
        const said = `${response.status} ${type}`.trim()
        if (response.status === 401 || response.status === 403) {
          throw new CredentialsRefused(`the revocation feed at ${url.href} refused the credentials (${said})`)
        }
        throw new Error(`expected 200 text/event-stream from ${url.href}, got ${said}`)
      }
      becameLive()
      const parser = createParser({
        onEvent: apply,
        onRetry: (ms) => {
          serverRetryMs = ms
        },
        onError: (error) => {
          if (error.type === 'max-buffer-size-exceeded') controller.abort(error)
        },
        maxBufferSize: MAX_BUFFER_CHARS,
      })
      const decoder = new TextDecoder()
      const reader = response.body.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return 'the server closed the stream'
        idle.refresh()
        parser.feed(decoder.decode(value, { stream: true }))
      }
    } catch (error) {
      if (idleReason !== undefined) throw new Error(idleReason)
      throw error
    } finally {
      clearTimeout(idle)
      connection = undefined
    }
  }

  /** Milliseconds to wait before the next attempt. */
  function delay(): number {
    if (credentialsRefused) return config.maxReconnectDelayMs
    const base = Math.min(serverRetryMs ?? config.reconnectDelayMs, config.maxReconnectDelayMs)
    const full = Math.min(base * 2 ** Math.max(0, failures - 1), config.maxReconnectDelayMs)
    // between half and all of it, so a fleet of services does not reconnect in step after a restart
    return full / 2 + (Math.random() * full) / 2
  }

  function pause(ms: number): Promise<void> {
    nextAttemptAt = performance.now() + ms
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        wake = undefined
        nextAttemptAt = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      // a service that is shutting down must not be kept alive by a reconnection timer
      timer.unref()
      wake = done
    })
  }

  async function run(): Promise<void> {
    while (!closed) {
      let ended: unknown
      try {
        ended = new Error(await connect())
      } catch (error) {
        ended = error
      }
      if (closed) return
      failed(ended)
      await pause(delay())
    }
  }

  const running = run().catch((error: unknown) => {
    // a bug in this loop; the verifier keeps working as with the feed lost
    warn(`the revocation feed stopped: ${describe(error)}`)
    failed(error)
  })

  return {
    check(claims, now) {
      if (list.revoked(claims, now)) throw new TesseraAuthError('TOKEN_REVOKED')
      if (state !== 'live' && config.onFeedLost === 'reject') {
        const waitMs = nextAttemptAt === undefined ? 0 : nextAttemptAt - performance.now()
        throw new TesseraAuthError('SERVICE_UNAVAILABLE', {
          retryAfter: Math.max(1, Math.ceil(waitMs / 1000)),
        })
      }
    },
    status,
    async close() {
      if (closed) return
      closed = true
      connection?.abort(new Error('closed'))
      wake?.()
      await running
      setState('closed')
    },
  }
}
