import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible'
import type { RateLimit } from '../config.js'

/** Where a key stands in its window after a hit. */
export interface CounterState {
  allowed: boolean
  /** The rule's count per window. */
  limit: number
  remaining: number
  /** Milliseconds until the window ends and the count starts over. */
  resetMs: number
}

/** Counts hits per key in fixed windows of `rule.duration` seconds, `rule.points` allowed in each. */
export interface Counter {
  readonly rule: RateLimit
  /** Counts one hit. Over the limit it is refused, and the window is not extended by it. */
  hit(key: string): Promise<CounterState>
  /** Takes one counted hit back. */
  refund(key: string): Promise<void>
}

export function createCounter(limiter: RateLimiterAbstract, rule: RateLimit): Counter {
  const state = (result: RateLimiterRes, allowed: boolean): CounterState => ({
    allowed,
    limit: rule.points,
    remaining: result.remainingPoints,
    resetMs: Math.max(result.msBeforeNext, 0),
  })
  return {
    rule,
    async hit(key) {
      try {
        return state(await limiter.consume(key), true)
      } catch (error) {
        // over the limit the limiter rejects with its result; a store failure is an Error and goes on
        if (error instanceof RateLimiterRes) return state(error, false)
        throw error
      }
    },
    async refund(key) {
      await limiter.reward(key)
    },
  }
}
