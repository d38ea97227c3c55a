import type { Logger } from 'pino'
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
} from 'rate-limiter-flexible'
import type { Clock } from '../clock.js'
import type { RedisHandle } from '../redis.js'
import { kyselyPgClient, type QueryExecutor } from './kysely-pg-client.js'

/** The table of migration 0003, in the shape RateLimiterPostgres reads and writes. */
export const RATE_LIMIT_TABLE = 'rate_limits'

export interface LimiterOptions {
  /** Allowed per window. */
  points: number
  /** Seconds per window. */
  duration: number
  /** Seconds a key stays refused once over its points; 0 (default): until its window ends. */
  blockDuration?: number
}

/** Where every counter of the server lives: Redis when configured, else the database. */
export interface LimiterStore {
  /** A limiter whose keys are kept under `name`, unique per purpose (`login:ip`). */
  limiter(name: string, options: LimiterOptions): RateLimiterAbstract
  /**
   * The server's clock. The limiters count windows by the system time (rate-limiter-flexible reads
   * Date.now); what must follow the injected clock (a lock's end) is decided against this one.
   */
  readonly clock: Clock
  /** Stops the periodic clean-up of expired rows. */
  close(): void
}

export interface LimiterStoreOptions {
  /** The Kysely instance of the database. */
  db: QueryExecutor
  redis: RedisHandle | undefined
  /** Prefix of every Redis key (`TESSERA_REDIS_PREFIX`). */
  redisPrefix: string
  logger: Logger | false
  /** What "expired" is measured against when old rows are deleted. */
  clock: Clock
  /** Milliseconds between deletions of expired database rows; default 5 minutes. */
  cleanupIntervalMs?: number
}

export function createLimiterStore(options: LimiterStoreOptions): LimiterStore {
  return options.redis ? redisStore(options.redis, options) : databaseStore(options)
}

/**
 * Counters in Redis, shared by every instance. While Redis cannot answer, each limiter counts in
 * this process's memory instead (rate-limiter-flexible's insurance limiter): limits stay on, though
 * per process, and no request fails for it. One warning per outage says so.
 */
function redisStore(redis: RedisHandle, options: LimiterStoreOptions): LimiterStore {
  let warned = false
  const onFallback = () => {
    if (warned) return
    warned = true
    if (options.logger) {
      options.logger.warn(
        'redis unreachable: rate limits and lockouts are counted in this process until it is back',
      )
    }
  }
  const onReady = () => {
    warned = false
  }
  redis.client.on('ready', onReady)
  return {
    clock: options.clock,
    limiter(name, limits) {
      const keyPrefix = `${options.redisPrefix}rl:${name}`
      const memory = new RateLimiterMemory({ ...limits, keyPrefix })
      return new RateLimiterRedis({
        ...limits,
        keyPrefix,
        storeClient: redis.client,
        // fail over at once instead of waiting for a connection that is not there
        rejectIfRedisNotReady: true,
        insuranceLimiter: noticed(memory, onFallback),
      })
    },
    close() {
      redis.client.off('ready', onReady)
    },
  }
}

/** Counters in the database (PostgreSQL or PGlite), one upsert per hit. */
function databaseStore(options: LimiterStoreOptions): LimiterStore {
  const client = kyselyPgClient(options.db)
  const cleanup = setInterval(
    () => {
      // expired rows are dead weight: a hit on one starts a new window in place anyway
      client
        .query({
          text: `delete from ${RATE_LIMIT_TABLE} where expire < $1`,
          values: [options.clock.now().getTime()],
        })
        .catch((error: unknown) => {
          if (options.logger) options.logger.warn({ err: error }, 'deleting expired rate-limit rows failed')
        })
    },
    options.cleanupIntervalMs ?? 5 * 60_000,
  )
  cleanup.unref()
  return {
    clock: options.clock,
    limiter(name, limits) {
      return new RateLimiterPostgres({
        ...limits,
        keyPrefix: name,
        storeClient: client,
        storeType: 'client',
        tableName: RATE_LIMIT_TABLE,
        // made by migration 0003; the limiter's own CREATE TABLE and clean-up timer stay off
        tableCreated: true,
        clearExpiredByTimeout: false,
      })
    },
    close() {
      clearInterval(cleanup)
    },
  }
}

const LIMITER_METHODS = new Set(['consume', 'penalty', 'reward', 'get', 'set', 'block', 'delete'])

/** The same limiter, calling `onUse` whenever one of its operations runs. */
function noticed<T extends object>(limiter: T, onUse: () => void): T {
  return new Proxy(limiter, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || typeof property !== 'string' || !LIMITER_METHODS.has(property)) {
        return value
      }
      return (...args: unknown[]) => {
        onUse()
        return value.apply(target, args)
      }
    },
  })
}
