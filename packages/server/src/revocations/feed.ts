import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { RevocationEventRecord } from '../store/records.js'
import type { RevocationEventStore } from '../store/revocation-events.js'

/*
 * The revocation feed of one instance: it follows the events table (the same ids on every
 * instance) and hands new events to this instance's subscribers. It polls only while someone
 * subscribes; a revocation written by this process wakes it at once, one written by another
 * instance is found by the next poll, or at once when Redis carries the wake-up between instances.
 */

/** What a subscriber receives once it has been caught up, in id order. */
export type FeedListener = (event: RevocationEventRecord) => void

export interface FeedSubscription {
  /**
   * The highest id the feed had read when the subscription started: events above it reach the
   * listener, so a subscriber catches up from the store up to (at least) this id.
   */
  readonly startedAt: bigint
  /** Starts delivery: events the feed read meanwhile, then live ones, each with an id above `after`. */
  start(after: bigint, listener: FeedListener): void
  close(): void
}

export interface RevocationFeed {
  /** Registers a subscriber; events found from now on are kept for it until `start`. */
  subscribe(): Promise<FeedSubscription>
  /** A revocation was committed here: read it now, and tell the other instances. */
  wake(): void
  /** How many subscribers this instance serves. */
  subscribers(): number
  close(): Promise<void>
}

export interface RevocationFeedOptions {
  store: Pick<RevocationEventStore, 'listAfter' | 'lastId'>
  logger: Logger | false
  /** Milliseconds between polls while there are subscribers. */
  pollIntervalMs: number
  /**
   * Redis, when REDIS_URL is set: a channel carries wake-ups between instances. The connection
   * given is the shared one, for publishing; the feed opens its own for subscribing.
   */
  redis?: { client: Redis; channel: string } | undefined
}

/** Events read per query: a burst (a disable with many sessions) is read in pages. */
const PAGE = 500

/** Polls without Redis; with it, wake-ups come at once and polling is the safety net. */
export const POLL_INTERVAL_MS = 250
export const POLL_INTERVAL_WITH_REDIS_MS = 1000

interface Subscriber {
  after: bigint
  listener: FeedListener | undefined
  pending: RevocationEventRecord[]
}

export function createRevocationFeed(options: RevocationFeedOptions): RevocationFeed {
  const subscribers = new Set<Subscriber>()
  // the highest id read; undefined while no one subscribes (then the feed does not poll)
  let cursor: bigint | undefined
  let starting: Promise<bigint> | undefined
  let timer: NodeJS.Timeout | undefined
  let polling: Promise<void> | undefined
  let again = false
  let failing = false
  let closed = false
  let redisSubscriber: Redis | undefined

  const deliver = (event: RevocationEventRecord) => {
    for (const subscriber of subscribers) {
      if (event.id <= subscriber.after) continue
      if (subscriber.listener) {
        subscriber.after = event.id
        subscriber.listener(event)
      } else {
        subscriber.pending.push(event)
      }
    }
  }

  async function readNew(): Promise<void> {
    if (cursor === undefined) return
    try {
      for (;;) {
        const events = await options.store.listAfter(cursor, PAGE)
        for (const event of events) {
          if (cursor === undefined) return
          cursor = event.id
          deliver(event)
        }
        if (events.length < PAGE) break
      }
      if (failing && options.logger) options.logger.info('revocation feed: reading events again')
      failing = false
    } catch (error) {
      // the database is down: no revocation can be written either, so nothing is missed; said once
      if (!failing && options.logger)
        options.logger.warn({ err: error }, 'revocation feed: reading events failed; retrying')
      failing = true
    }
  }

  /** One read at a time; a wake during a read asks for another right after it. */
  function poll(): Promise<void> {
    if (polling) {
      again = true
      return polling
    }
    polling = (async () => {
      do {
        again = false
        await readNew()
      } while (again && cursor !== undefined)
    })().finally(() => {
      polling = undefined
    })
    return polling
  }

  function schedule(): void {
    if (closed || cursor === undefined || timer) return
    timer = setTimeout(() => {
      timer = undefined
      void poll().finally(schedule)
    }, options.pollIntervalMs)
    timer.unref()
  }

  function stopWhenIdle(): void {
    if (subscribers.size > 0) return
    cursor = undefined
    starting = undefined
    clearTimeout(timer)
    timer = undefined
  }

  async function start(): Promise<bigint> {
    if (cursor !== undefined) return cursor
    starting ??= options.store.lastId().then(
      (last) => {
        cursor = last
        schedule()
        return last
      },
      (error: unknown) => {
        starting = undefined
        throw error
      },
    )
    return starting
  }

  if (options.redis) {
    const { client, channel } = options.redis
    redisSubscriber = client.duplicate({ enableOfflineQueue: true, lazyConnect: false })
    // errors are the shared connection's to report; this one reconnects on its own
    redisSubscriber.on('error', () => {})
    redisSubscriber.on('message', () => {
      if (cursor !== undefined) void poll()
    })
    redisSubscriber.subscribe(channel).catch(() => {})
  }

  return {
    async subscribe() {
      const subscriber: Subscriber = { after: 0n, listener: undefined, pending: [] }
      // registered before the start is read: nothing found after `startedAt` can pass it by
      subscribers.add(subscriber)
      let startedAt: bigint
      try {
        startedAt = await start()
      } catch (error) {
        subscribers.delete(subscriber)
        stopWhenIdle()
        throw error
      }
      return {
        startedAt,
        start(after, listener) {
          subscriber.after = after
          subscriber.listener = listener
          const pending = subscriber.pending
          subscriber.pending = []
          for (const event of pending) {
            if (event.id <= subscriber.after) continue
            subscriber.after = event.id
            listener(event)
          }
        },
        close() {
          subscribers.delete(subscriber)
          stopWhenIdle()
        },
      }
    },
    wake() {
      if (cursor !== undefined) void poll()
      if (options.redis) {
        // the other instances read it at their next poll anyway if this is lost
        options.redis.client.publish(options.redis.channel, '1').catch(() => {})
      }
    },
    subscribers: () => subscribers.size,
    async close() {
      closed = true
      subscribers.clear()
      stopWhenIdle()
      await polling
      redisSubscriber?.disconnect()
    },
  }
}
