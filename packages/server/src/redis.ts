import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { within } from './within.js'

/** The shared Redis connection of one process: rate limits and readiness use it. */
export interface RedisHandle {
  client: Redis
  /** True while the connection is ready; commands fail fast (no offline queue) when it is not. */
  isUp(): boolean
  /** Resolves when Redis answers PING within `timeoutMs`, else rejects. */
  ping(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

/**
 * Connects to REDIS_URL. Commands never queue while Redis is down: callers (the rate limiter)
 * see the failure at once and fall back to process memory, and reconnection goes on in the
 * background. Up and down transitions are logged once each.
 */
export function openRedis(url: string, logger: Logger | false): RedisHandle {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    // reconnect forever, at most every 2 s
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
  })
  let up = false
  client.on('ready', () => {
    if (!up && logger) logger.info('redis connected')
    up = true
  })
  client.on('error', (error) => {
    if (up && logger)
      logger.warn({ err: error }, 'redis unreachable: rate limits fall back to process memory')
    up = false
  })
  client.on('end', () => {
    up = false
  })
  return {
    client,
    isUp: () => up && client.status === 'ready',
    async ping(timeoutMs = 1000) {
      await within(client.ping(), timeoutMs, 'redis ping timed out')
    },
    async close() {
      client.disconnect()
    },
  }
}
