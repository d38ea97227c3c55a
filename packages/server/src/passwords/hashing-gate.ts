import { TesseraError } from '../errors.js'
import type { PasswordHasher } from './hasher.js'

/** What the gate reports to: the in-flight and queued gauges. */
export interface HashingGauges {
  running: { inc(): void; dec(): void }
  queued: { inc(): void; dec(): void }
}

export interface HashingGateOptions {
  /** Hashes at once; more wait in line. Past the core count they only compete with the event loop. */
  concurrency: number
  /** How many may wait; the next one is refused at once. */
  maxQueue: number
  /** Milliseconds one may wait for its turn before it is refused. */
  maxWaitMs: number
  gauges?: HashingGauges | undefined
  /**
   * While it answers true (the event loop runs late: loop-delay.ts), one hash at a time, whatever
   * `concurrency` says. Unset: always `concurrency`.
   */
  pressure?: { congested(): boolean } | undefined
}

/** Seconds a refused request is told to wait: a hash takes milliseconds, a queue drains in about one. */
const RETRY_AFTER = 1

const overloaded = () =>
  new TesseraError('SERVICE_UNAVAILABLE', {
    retryAfter: RETRY_AFTER,
    detail: 'Too many password checks at once; retry in a moment.',
  })

/**
 * Bounds the password hashing a process does at once. argon2 runs on libuv's thread pool, so it
 * never blocks the event loop, but every hash running beside it takes a core from it: with more
 * hashes than cores, cheap requests wait for the scheduler. The gate lets `concurrency` run, queues
 * `maxQueue` more in order, and answers 503 with Retry-After to the rest, and to any that waited
 * `maxWaitMs`: under a login flood a client is told to come back rather than left hanging.
 */
export function gateHashing(hasher: PasswordHasher, options: HashingGateOptions): PasswordHasher {
  const { concurrency, maxQueue, maxWaitMs, gauges, pressure } = options
  let running = 0
  const waiting: { start(): void; timer: NodeJS.Timeout }[] = []
  // asked at each turn: a second hash starts only while the loop keeps up
  const limit = () => (pressure?.congested() ? 1 : concurrency)

  // starts waiting ones in order while the limit allows: more than one when the loop has caught
  // up since the last turn
  const drain = () => {
    while (running < limit()) {
      const next = waiting.shift()
      if (!next) return
      clearTimeout(next.timer)
      gauges?.queued.dec()
      next.start()
    }
  }

  const release = () => {
    running--
    gauges?.running.dec()
    drain()
  }

  const acquire = (): Promise<void> => {
    // none jumps the line: a free turn goes to the first waiting
    if (running < limit() && waiting.length === 0) {
      running++
      gauges?.running.inc()
      return Promise.resolve()
    }
    if (waiting.length >= maxQueue) return Promise.reject(overloaded())
    return new Promise((resolve, reject) => {
      const entry = {
        start: () => {
          running++
          gauges?.running.inc()
          resolve()
        },
        timer: setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1)
          gauges?.queued.dec()
          reject(overloaded())
        }, maxWaitMs),
      }
      waiting.push(entry)
      gauges?.queued.inc()
      drain()
    })
  }

  const gated = async <T>(work: () => Promise<T>): Promise<T> => {
    await acquire()
    try {
      return await work()
    } finally {
      release()
    }
  }

  return {
    hash: (password) => gated(() => hasher.hash(password)),
    verify: (storedHash, password) => gated(() => hasher.verify(storedHash, password)),
    verifyDummy: (password) => gated(() => hasher.verifyDummy(password)),
  }
}
