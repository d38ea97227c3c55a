import autocannon from 'autocannon'

/** One bounded autocannon run against 127.0.0.1. */
export interface LoadOptions {
  url: string
  connections: number
  /** Seconds: autocannon measures whole seconds, so under 1 is 1. */
  duration: number
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** Builds each request (rotating tokens, bodies); without it every request is the same. */
  setupRequest?: (request: autocannon.Request) => autocannon.Request
}

export interface LoadResult {
  /** Responses with a 2xx status per second of the run. */
  okPerSecond: number
  /** Milliseconds, over every response. */
  p50: number
  p99: number
  ok: number
  /** Responses of any status; 0 means nothing answered within the run (then p50 and p99 are the duration). */
  answered: number
  /** Non-2xx responses, connection errors and timeouts. */
  failed: number
  statuses: Record<string, number>
}

// per request; a run never waits longer than its duration plus this
const REQUEST_TIMEOUT_S = 10
const GRACE_MS = 30_000

function refuse(url: string): void {
  const { hostname } = new URL(url)
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') {
    throw new Error(`load goes only to 127.0.0.1, not ${hostname}`)
  }
}

/** Runs autocannon for `duration` seconds (hard stop after a grace period) and summarises it. */
export function load(options: LoadOptions): Promise<LoadResult> {
  refuse(options.url)
  const base = new URL(options.url)
  const request: autocannon.Request = {
    method: options.method ?? 'GET',
    path: `${base.pathname}${base.search}`,
    headers: options.headers ?? {},
    ...(options.body === undefined ? {} : { body: options.body }),
  }
  const setup = options.setupRequest
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: base.origin,
        connections: options.connections,
        duration: options.duration,
        timeout: REQUEST_TIMEOUT_S,
        requests: [setup ? { ...request, setupRequest: (r) => setup(r) } : request],
      },
      (error, result) => {
        clearTimeout(hardStop)
        if (error) return reject(error)
        const statuses: Record<string, number> = {}
        for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count
        if (result.errors) statuses.errors = result.errors
        if (result.timeouts) statuses.timeouts = result.timeouts
        const ok = result['2xx']
        const answered = ok + result.non2xx
        // nothing answered: every request took longer than the run, which is all that is known
        const floor = options.duration * 1000
        resolve({
          okPerSecond: ok / (result.duration || options.duration),
          p50: answered ? result.latency.p50 : floor,
          p99: answered ? result.latency.p99 : floor,
          ok,
          answered,
          failed: result.non2xx + result.errors + result.timeouts,
          statuses,
        })
      },
    )
    const hardStop = setTimeout(() => instance.stop(), options.duration * 1000 + GRACE_MS)
  })
}

/**
 * `requests` GETs of `url`, `concurrency` at a time, each with the headers `headersOf` gives: a
 * warm-up. An autocannon run lasts a whole second however few requests it is asked for.
 */
export async function warmUp(
  url: string,
  requests: number,
  headersOf: (i: number) => Record<string, string>,
  concurrency = 10,
): Promise<void> {
  refuse(url)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const response = await fetch(url, { headers: headersOf(next++), signal: AbortSignal.timeout(10_000) })
        await response.arrayBuffer()
      }
    }),
  )
}

/** Fails unless `url` answers 2xx once (a wrong token would otherwise make a fast 401 benchmark). */
export async function expectOk(url: string, init: RequestInit = {}): Promise<Response> {
  refuse(url)
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
  if (!response.ok) {
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`)
  }
  return response
}

/** Failed requests and runs in which nothing answered, for a figure's detail ('' when none). */
export function loadFlags(runs: readonly LoadResult[]): string[] {
  const failed = runs.reduce((sum, r) => sum + r.failed, 0)
  const silent = runs.filter((r) => r.answered === 0).length
  return [
    ...(failed ? [`${failed} failed!`] : []),
    ...(silent ? [`nothing answered in ${silent} of ${runs.length} runs!`] : []),
  ]
}

/** `p99 12 ms`, plus failures and silent runs, for a figure's detail. */
export function describeLoads(runs: readonly LoadResult[], what = 'p99'): string {
  const p99s = [...runs.map((r) => r.p99)].sort((a, b) => a - b)
  const p99 = p99s[Math.floor((p99s.length - 1) / 2)] ?? Number.NaN
  return [`${what} ${p99 >= 100 ? p99.toFixed(0) : p99.toFixed(1)} ms`, ...loadFlags(runs)].join(', ')
}

/**
 * Slices of one load taken as one: counts added, rates over the slices' total time, latencies
 * the worst slice's (autocannon reports percentiles, which do not add up).
 */
export function combineLoads(slices: readonly LoadResult[], seconds: number): LoadResult {
  const statuses: Record<string, number> = {}
  for (const slice of slices) {
    for (const [status, count] of Object.entries(slice.statuses))
      statuses[status] = (statuses[status] ?? 0) + count
  }
  const sum = (of: (slice: LoadResult) => number) => slices.reduce((total, slice) => total + of(slice), 0)
  return {
    okPerSecond: sum((slice) => slice.ok) / seconds,
    p50: Math.max(...slices.map((slice) => slice.p50)),
    p99: Math.max(...slices.map((slice) => slice.p99)),
    ok: sum((slice) => slice.ok),
    answered: sum((slice) => slice.answered),
    failed: sum((slice) => slice.failed),
    statuses,
  }
}
