import type { Config, RateLimit } from '../config.js'
import { type Counter, createCounter } from './counter.js'
import { createLockout, type Lockout, noLockout } from './lockout.js'
import type { LimiterStore } from './store.js'

/** The rate limits and the account lockout of one server (API.md "Limits"). */
export interface Limits {
  /**
   * Makes the counter of one limited thing, e.g. `('login:ip', config.limits.login)`; null with
   * TESSERA_RATE_LIMIT=off, when nothing is counted.
   */
  readonly counter: ((name: string, rule: RateLimit) => Counter) | null
  readonly lockout: Lockout
  close(): void
}

/** Limits over `store`, or none at all when the store is absent (TESSERA_RATE_LIMIT=off). */
export function createLimits(config: Pick<Config, 'lockout'>, store: LimiterStore | undefined): Limits {
  if (!store) return noLimits
  const { threshold, window, duration } = config.lockout
  return {
    counter: (name, rule) => createCounter(store.limiter(name, rule), rule),
    lockout: createLockout({
      failures: store.limiter('lockout:email', { points: threshold, duration: window }),
      // a lock's record outlives the lock and the failure window: its end is read from the record
      // and compared with the clock, and the storage expiry only clears it away eventually
      locks: store.limiter('lockout:lock', { points: 1, duration: duration + window + 60 }),
      clock: store.clock,
      config: config.lockout,
    }),
    close: () => store.close(),
  }
}

export const noLimits: Limits = { counter: null, lockout: noLockout, close() {} }
