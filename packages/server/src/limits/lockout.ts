import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible'
import type { Clock } from '../clock.js'
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

/** What a lockout counts with and where it keeps its locks. */
export interface LockoutDeps {
  /** `threshold` points per `window`: the failure streak of each email. */
  failures: RateLimiterAbstract
  /** One record per locked email, holding the lock's end; outlives the lock (see {@link LOCK_EPOCH}). */
  locks: RateLimiterAbstract
  /** Decides when a lock ends, so tests move their clock instead of waiting. */
  clock: Clock
  config: LockoutConfig
}

/**
 * A lock's end is kept as the points of its record: seconds since this epoch, which an integer
 * column holds for decades (epoch seconds would overflow it in 2038).
 */
export const LOCK_EPOCH = Date.UTC(2025, 0, 1)

const toLockPoints = (end: Date): number => Math.ceil((end.getTime() - LOCK_EPOCH) / 1000)
const fromLockPoints = (points: number): Date => new Date(LOCK_EPOCH + points * 1000)

/**
 * Each attempt takes a failure point up front, so parallel requests cannot all slip past the
 * threshold while their passwords are being checked; a right password clears the points and an
 * attempt without a verdict gives its point back. The failure that completes the streak writes the
 * lock's end by the clock; the first attempt after that end clears the lock and the streak.
 */
export function createLockout(deps: LockoutDeps): Lockout {
  const { failures, locks, clock, config } = deps

  /** Seconds left of the email's lock, or undefined when it has none (an ended one is cleared). */
  async function lockedFor(key: string): Promise<number | undefined> {
    const lock = await locks.get(key)
    if (!lock) return undefined
    const left = fromLockPoints(lock.consumedPoints).getTime() - clock.now().getTime()
    if (left > 0) return Math.max(1, Math.ceil(left / 1000))
    // the lock is over: the streak that caused it is forgotten with it
    await Promise.all([locks.delete(key), failures.delete(key)])
    return undefined
  }

  return {
    async begin(emailNormalized) {
      const key = emailKey(emailNormalized)
      const locked = await lockedFor(key)
      if (locked !== undefined) return refused(locked)
      let count: number
      try {
        count = (await failures.consume(key)).consumedPoints
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error
        // past the threshold with no lock yet: a parallel attempt is starting it right now
        return refused((await lockedFor(key)) ?? config.duration)
      }
      return {
        lockedFor: undefined,
        async failed() {
          // only the failure that completes the streak starts the lock: exactly one attempt holds
          // that count, so a lock starts once and nothing later moves its end
          if (count !== config.threshold) return undefined
          const end = new Date(clock.now().getTime() + config.duration * 1000)
          await locks.set(key, toLockPoints(end), config.duration + config.window + 60)
          return config.duration
        },
        async succeeded() {
          await failures.delete(key)
        },
        async abandoned() {
          await failures.reward(key)
        },
      }
    },
    async clear(emailNormalized) {
      const key = emailKey(emailNormalized)
      await Promise.all([locks.delete(key), failures.delete(key)])
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
