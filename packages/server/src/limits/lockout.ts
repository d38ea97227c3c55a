import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible'
import type { LockoutConfig } from '../config.js'
import { emailKey } from './keys.js'

/** One login attempt on an email, counted before its password is checked. */
export interface LoginAttempt {
  /** Seconds the email stays locked, when the attempt was refused without checking the password. */
  readonly lockedFor: number | undefined
  /** The password was wrong. Resolves to the lock's seconds when this failure started a lock. */
  failed(): Promise<number | undefined>
  /** The password was right: the failure streak is forgotten. */
  succeeded(): Promise<void>
  /** The attempt ended with no verdict on the password (an error): it does not count. */
  abandoned(): Promise<void>
}

/**
 * Account lockout per normalised email, whether or not an account has it, so a lock tells nothing
 * about the account. After `threshold` failures in a row the email is locked for `duration`
 * seconds. Attempts during a lock are refused before any password check and neither extend it nor
 * count toward the next one, so a lock always ends `duration` after it began.
 */
export interface Lockout {
  begin(emailNormalized: string): Promise<LoginAttempt>
  /** Ends a lock and forgets the failures: after a password reset. */
  clear(emailNormalized: string): Promise<void>
}

/**
 * A lockout over one limiter of `threshold` points per `window` with a `blockDuration` of the lock's
 * duration (see limits.ts). Each attempt takes a point up front, so parallel requests cannot all
 * slip past the threshold while their passwords are being checked; a right password clears the
 * points and an attempt without a verdict gives its point back.
 */
export function createLockout(limiter: RateLimiterAbstract, config: LockoutConfig): Lockout {
  return {
    async begin(emailNormalized) {
      const key = emailKey(emailNormalized)
      let count: number
      try {
        count = (await limiter.consume(key)).consumedPoints
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error
        return refused(Math.max(1, Math.ceil(error.msBeforeNext / 1000)))
      }
      return {
        lockedFor: undefined,
        async failed() {
          // only the failure that completes the streak starts the lock: exactly one attempt holds
          // that count, so a lock starts once and nothing later moves its end
          if (count !== config.threshold) return undefined
          await limiter.block(key, config.duration)
          return config.duration
        },
        async succeeded() {
          await limiter.delete(key)
        },
        async abandoned() {
          await limiter.reward(key)
        },
      }
    },
    async clear(emailNormalized) {
      await limiter.delete(emailKey(emailNormalized))
    },
  }
}

const settled = async (): Promise<undefined> => undefined

function refused(seconds: number): LoginAttempt {
  return { lockedFor: seconds, failed: settled, succeeded: async () => {}, abandoned: async () => {} }
}

/** With TESSERA_RATE_LIMIT=off: nothing is counted and nothing locks. */
export const noLockout: Lockout = {
  async begin() {
    return { lockedFor: undefined, failed: settled, succeeded: async () => {}, abandoned: async () => {} }
  },
  async clear() {},
}
