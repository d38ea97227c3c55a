import { keepAlivePool, type PoolAnswer, type PoolRequest } from './keep-alive-pool.js'
import { SOAK_KINDS, type SoakKind } from './soak-options.js'
import { sleep } from './stats.js'
import { BENCH_PASSWORD } from './tessera-serve.js'

/**
 * The soak's open-model load: each kind of request is started on a fixed schedule (`rate` per
 * second, evenly spaced), whether or not the earlier ones were answered, so a slow server meets
 * the same demand instead of a politely slowing client. Each request is made by one of `clients`
 * simulated clients (devices of the registered users), each holding one session:
 *
 * - `login`: an idle client signs in again (one that lost its session first); its previous
 *   session, if any, is left to expire, as a browser that lost its cookie leaves it.
 * - `refresh`: rotates the client's refresh token (`tokenDelivery: "body"`), keeps the successor.
 * - `me`, `sessions`: `GET /auth/me`, `GET /auth/sessions` with the client's access token.
 * - `logout`: revokes the client's session, then the client logs in again at once (counted with
 *   the logins).
 *
 * A client makes one request at a time. A scheduled request is dropped and counted, never
 * queued, when `maxInFlight` requests are already in flight or no client is free for it.
 * Latency is from the scheduled start to the answer, so a request the load generator started late
 * counts its delay too (no coordinated omission).
 */
export interface SoakLoadOptions {
  port: number
  emails: readonly string[]
  clients: number
  rates: Readonly<Record<SoakKind, number>>
  maxInFlight: number
  timeoutMs: number
  /** The sessions the clients start with, by client index ({@link signInClients}). */
  sessions: readonly SessionTokens[]
}

export interface SessionTokens {
  accessToken: string
  refreshToken: string
}

/** What happened to one kind of request in a window of time (or the whole run). */
export interface KindCounts {
  /** Starts the schedule asked for (and logins after logouts). */
  scheduled: number
  /** Dropped at once because `maxInFlight` requests were in flight. */
  droppedInFlight: number
  /** Dropped at once because no client was free (or signed in) for it. */
  droppedNoClient: number
  sent: number
  /** Answered, or failed without an answer (`timeout`, `error`). */
  completed: number
  /** By status code, plus `timeout` and `error` (no answer) and `bad-body` (a 2xx without the tokens). */
  statuses: Record<string, number>
  /** Milliseconds from the scheduled start to the answer, of answered requests, in completion order. */
  latencies: number[]
}

export type KindTable = Record<SoakKind, KindCounts>

/** A request answered with a status its kind never expects (or not answered), kept for the report. */
export interface Unexpected {
  kind: SoakKind
  status: string
  body: string
  /** Milliseconds since the load started. */
  at: number
}

export interface SoakLoad {
  /** Runs the schedule for `seconds`, then waits for the requests in flight; resolves when all are done. */
  run(seconds: number): Promise<void>
  /** Ends the schedule early (Ctrl-C, a crashed server); `run` resolves once the requests in flight are done. */
  stop(): void
  /** The counts since the previous call, and a new window begun. */
  takeWindow(): KindTable
  /** The counts of the whole run so far. */
  readonly totals: KindTable
  readonly inFlight: number
  readonly connections: { open: number; opened: number }
  /** The first answer of each kind and status that kind never expects (up to 20). */
  readonly unexpected: readonly Unexpected[]
  /** Clients signed in now (out of `clients`). */
  readonly signedIn: number
  /** Closes every connection. */
  close(): void
}

/** The status each kind answers when all is well; anything else is reported. */
export const EXPECTED_STATUS: Readonly<Record<SoakKind, number>> = {
  login: 200,
  refresh: 200,
  me: 200,
  sessions: 200,
  logout: 204,
}

interface Client {
  email: string
  busy: boolean
  accessToken?: string
  refreshToken?: string
}

const UNEXPECTED_KEPT = 20
const USER_AGENT = 'tessera-soak/1'

export const emptyCounts = (): KindCounts => ({
  scheduled: 0,
  droppedInFlight: 0,
  droppedNoClient: 0,
  sent: 0,
  completed: 0,
  statuses: {},
  latencies: [],
})

const emptyTable = (): KindTable => ({
  login: emptyCounts(),
  refresh: emptyCounts(),
  me: emptyCounts(),
  sessions: emptyCounts(),
  logout: emptyCounts(),
})

/** The two tokens of a token response, or undefined when the body lacks them. */
function tokens(body: string): SessionTokens | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  if (!('accessToken' in parsed) || !('refreshToken' in parsed)) return undefined
  const { accessToken, refreshToken } = parsed
  return typeof accessToken === 'string' && typeof refreshToken === 'string'
    ? { accessToken, refreshToken }
    : undefined
}

export function soakLoad(options: SoakLoadOptions): SoakLoad {
  const pool = keepAlivePool(options.port, options.timeoutMs)
  const clients: Client[] = Array.from({ length: options.clients }, (_, i) => ({
    email: options.emails[i % options.emails.length] ?? '',
    busy: false,
    ...options.sessions[i],
  }))
  const totals = emptyTable()
  let window = emptyTable()
  const unexpected: Unexpected[] = []
  let inFlight = 0
  let loadStarted = performance.now()
  let stopped = false

  const count = (kind: SoakKind, update: (counts: KindCounts) => void) => {
    update(totals[kind])
    update(window[kind])
  }

  // a free client for `kind`: a signed-in one, or for a login preferably one that is signed out
  const pickClient = (kind: SoakKind): Client | undefined => {
    const offset = Math.floor(Math.random() * clients.length)
    let fallback: Client | undefined
    for (let i = 0; i < clients.length; i++) {
      const client = clients[(offset + i) % clients.length]
      if (!client || client.busy) continue
      const signedIn = client.refreshToken !== undefined
      if (kind === 'login') {
        if (!signedIn) return client
        fallback ??= client
      } else if (signedIn) return client
    }
    return fallback
  }

  const requestFor = (kind: SoakKind, client: Client): PoolRequest => {
    const bearer = { authorization: `Bearer ${client.accessToken}`, 'user-agent': USER_AGENT }
    switch (kind) {
      case 'login':
        return {
          method: 'POST',
          path: '/auth/login',
          headers: { 'user-agent': USER_AGENT },
          json: JSON.stringify({ email: client.email, password: BENCH_PASSWORD, tokenDelivery: 'body' }),
        }
      case 'refresh':
        return {
          method: 'POST',
          path: '/auth/refresh',
          headers: { 'user-agent': USER_AGENT },
          json: JSON.stringify({ refreshToken: client.refreshToken, tokenDelivery: 'body' }),
        }
      case 'me':
        return { method: 'GET', path: '/auth/me', headers: bearer }
      case 'sessions':
        return { method: 'GET', path: '/auth/sessions', headers: bearer }
      case 'logout':
        return {
          method: 'POST',
          path: '/auth/logout',
          headers: { 'user-agent': USER_AGENT },
          json: JSON.stringify({ refreshToken: client.refreshToken }),
        }
    }
  }

  const signOut = (client: Client) => {
    client.accessToken = undefined
    client.refreshToken = undefined
  }

  // one request of `kind` by `client` (already marked busy); answers the status key it counted
  const perform = async (kind: SoakKind, client: Client, scheduledAt: number): Promise<string> => {
    inFlight++
    count(kind, (c) => c.sent++)
    let answer: PoolAnswer | undefined
    let failure: string | undefined
    let failureMessage = ''
    try {
      answer = await pool.request(requestFor(kind, client))
    } catch (error) {
      failureMessage = error instanceof Error ? error.message : String(error)
      failure = failureMessage === 'timeout' ? 'timeout' : 'error'
    } finally {
      inFlight--
    }
    const latency = performance.now() - scheduledAt
    let status = failure ?? String(answer?.status)
    if (answer?.status === EXPECTED_STATUS[kind]) {
      if (kind === 'login' || kind === 'refresh') {
        const pair = tokens(answer.body)
        if (pair) Object.assign(client, pair)
        else status = 'bad-body'
      } else if (kind === 'logout') signOut(client)
    } else if (kind === 'refresh' || kind === 'logout' || answer?.status === 401) {
      // the session may be gone or its token spent: the client signs in again on a later login
      signOut(client)
    }
    count(kind, (c) => {
      c.completed++
      c.statuses[status] = (c.statuses[status] ?? 0) + 1
      if (answer) c.latencies.push(latency)
    })
    // the first of each kind and status, as an example for the report
    if (
      status !== String(EXPECTED_STATUS[kind]) &&
      unexpected.length < UNEXPECTED_KEPT &&
      !unexpected.some((seen) => seen.kind === kind && seen.status === status)
    ) {
      unexpected.push({
        kind,
        status,
        body: (answer?.body ?? failureMessage).slice(0, 300),
        at: performance.now() - loadStarted,
      })
    }
    return status
  }

  const launch = (kind: SoakKind, scheduledAt: number) => {
    count(kind, (c) => c.scheduled++)
    if (inFlight >= options.maxInFlight) {
      count(kind, (c) => c.droppedInFlight++)
      return
    }
    const client = pickClient(kind)
    if (!client) {
      count(kind, (c) => c.droppedNoClient++)
      return
    }
    client.busy = true
    void (async () => {
      try {
        const status = await perform(kind, client, scheduledAt)
        if (kind === 'logout' && status === '204' && !stopped) {
          // the same client signs in again at once; it stays ours, so only the in-flight cap applies
          count('login', (c) => c.scheduled++)
          if (inFlight >= options.maxInFlight) count('login', (c) => c.droppedInFlight++)
          else await perform('login', client, performance.now())
        }
      } finally {
        client.busy = false
      }
    })()
  }

  return {
    async run(seconds) {
      loadStarted = performance.now()
      const end = loadStarted + seconds * 1000
      const next = new Map<SoakKind, number>()
      for (const kind of SOAK_KINDS) {
        // the kinds' schedules start half an interval apart from the start, not all at once
        if (options.rates[kind] > 0) next.set(kind, loadStarted + 500 / options.rates[kind])
      }
      await new Promise<void>((resolve) => {
        const tick = () => {
          const now = performance.now()
          let earliest = Number.POSITIVE_INFINITY
          for (const [kind, at] of next) {
            const interval = 1000 / options.rates[kind]
            let due = at
            // an open model: every start whose time has come is made now, late ones included
            while (due <= now && due < end && !stopped) {
              launch(kind, due)
              due += interval
            }
            next.set(kind, due)
            if (due < end) earliest = Math.min(earliest, due)
          }
          if (stopped || earliest === Number.POSITIVE_INFINITY) resolve()
          else setTimeout(tick, Math.max(0, earliest - performance.now()))
        }
        tick()
      })
      // the requests still in flight: each ends by its answer or its timeout
      while (clients.some((client) => client.busy)) await sleep(50)
    },
    stop() {
      stopped = true
    },
    takeWindow() {
      const taken = window
      window = emptyTable()
      return taken
    },
    totals,
    get inFlight() {
      return inFlight
    },
    get connections() {
      return { open: pool.open, opened: pool.opened }
    },
    unexpected,
    get signedIn() {
      return clients.filter((client) => client.refreshToken !== undefined).length
    },
    close: () => pool.close(),
  }
}

/**
 * Signs every client in before the load starts, `concurrency` at a time (argon2: at most the
 * server's hashing concurrency run at once, the rest wait in its queue). Throws on any failure.
 */
export async function signInClients(
  port: number,
  emails: readonly string[],
  clients: number,
  concurrency: number,
  timeoutMs: number,
): Promise<SessionTokens[]> {
  const pool = keepAlivePool(port, timeoutMs)
  const sessions: SessionTokens[] = []
  let nextIndex = 0
  try {
    const worker = async () => {
      for (let i = nextIndex++; i < clients; i = nextIndex++) {
        const email = emails[i % emails.length] ?? ''
        const answer = await pool.request({
          method: 'POST',
          path: '/auth/login',
          headers: { 'user-agent': USER_AGENT },
          json: JSON.stringify({ email, password: BENCH_PASSWORD, tokenDelivery: 'body' }),
        })
        const pair = answer.status === 200 ? tokens(answer.body) : undefined
        if (!pair) throw new Error(`login ${email}: ${answer.status} ${answer.body.slice(0, 300)}`)
        sessions[i] = pair
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    return sessions
  } finally {
    pool.close()
  }
}
