import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import type { AttemptOutcome, OutboxEvent, WebhookStore } from '../store/webhooks.js'
import { signWebhook, webhookKey } from './signature.js'

/** Seconds from an event's first attempt (or its requeue) after which it gives up: 24 hours. */
export const GIVE_UP_AFTER_S = 24 * 3600
/** Seconds before the second attempt; each next wait is three times the last, up to the cap. */
const FIRST_RETRY_S = 5
const RETRY_FACTOR = 3
/** The longest wait between two attempts: two hours. */
const MAX_RETRY_S = 2 * 3600
/** Events one claim takes (and sends in parallel). */
const BATCH = 16
/** Milliseconds between two looks at the outbox. */
export const POLL_INTERVAL_MS = 1000
/** Milliseconds the loop waits after a failing look (the database is down) before the next. */
const POLL_AFTER_ERROR_MS = 5000
/**
 * Seconds a claimed event is held beyond the attempt's timeout: an instance that died mid-attempt
 * leaves it to be taken again this long after the timeout, by any instance.
 */
const LEASE_MARGIN_S = 30

/**
 * Seconds to wait after the `attempt`-th failed attempt: 5 s, 15 s, 45 s, … up to 2 h, each within
 * ±25 % so that many events failing together do not all come back at once.
 */
export function retryDelaySeconds(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(FIRST_RETRY_S * RETRY_FACTOR ** Math.max(0, attempt - 1), MAX_RETRY_S)
  return base * (0.75 + random() * 0.5)
}

export interface WebhookDeliveryDeps {
  /** The outbox on the pool (not a transaction): claims and outcomes are transactions of their own. */
  store: WebhookStore
  clock: Clock
  config: Pick<Config, 'webhookUrl' | 'webhookSecret' | 'webhookTimeout'> & {
    webhookUrl: string
    webhookSecret: string
  }
  metrics?: Pick<Metrics, 'webhookAttempt'> | undefined
  logger: Logger | false
  /** The jitter's source, [0, 1); default Math.random. */
  random?: () => number
}

/** What one {@link WebhookDelivery.deliverDue} step did. */
export interface DeliveryReport {
  delivered: number
  retried: number
  failed: number
}

export interface WebhookDelivery {
  /**
   * Sends every event due at the clock's now, once each (an event that fails waits for its next
   * attempt time), and answers what happened. The loop calls it; tests call it to drive delivery.
   */
  deliverDue(): Promise<DeliveryReport>
  /** Stops the loop: attempts under way are cut short and their events handed back, due at once. */
  stop(): Promise<void>
}

/**
 * Delivers the outbox to TESSERA_WEBHOOK_URL: each event POSTed with its Standard Webhooks headers,
 * signed afresh per attempt; a 2xx answer delivers it, anything else (another status, a refused
 * connection, no answer within TESSERA_WEBHOOK_TIMEOUT) retries it with backoff for 24 hours, then
 * gives up. With `background`, a loop looks every second; several instances share the outbox
 * (claims skip rows another holds).
 */
export function startWebhookDelivery(
  deps: WebhookDeliveryDeps,
  options: { background: boolean; pollIntervalMs?: number },
): WebhookDelivery {
  const { store, clock, config, logger } = deps
  const key = webhookKey(config.webhookSecret)
  const random = deps.random ?? Math.random
  const stopping = new AbortController()
  let stopped = false
  let running: Promise<DeliveryReport> | undefined

  /** One attempt of one claimed event. */
  async function attempt(event: OutboxEvent, report: DeliveryReport): Promise<void> {
    const startedAt = clock.now()
    const headers = signWebhook(key, {
      id: event.id,
      timestamp: Math.floor(startedAt.getTime() / 1000),
      body: event.payload,
    })
    const started = performance.now()
    let error: string | undefined
    // one signal for the timeout and the stop, from a timer of our own: AbortSignal.any over
    // AbortSignal.timeout never fired on Node 20 against a receiver that does not answer
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, config.webhookTimeout * 1000)
    const onStop = () => controller.abort()
    stopping.signal.addEventListener('abort', onStop, { once: true })
    try {
      const response = await fetch(config.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Tessera-Webhooks', ...headers },
        body: event.payload,
        // a redirect is not followed: the receiver's address is configured, not discovered
        redirect: 'manual',
        signal: controller.signal,
      })
      // the body is not needed; reading it (within the same timeout) ends the request cleanly
      await drain(response)
      if (response.status < 200 || response.status > 299) error = `HTTP ${response.status}`
    } catch (cause) {
      if (stopping.signal.aborted && !timedOut) {
        // the server is stopping: untried, it is due at once for whichever instance runs next
        await store.release(event.id, startedAt)
        return
      }
      error = timedOut ? `no answer within ${config.webhookTimeout} s` : describeFailure(cause)
    } finally {
      clearTimeout(timer)
      stopping.signal.removeEventListener('abort', onStop)
    }
    const seconds = (performance.now() - started) / 1000
    const now = clock.now()
    let outcome: AttemptOutcome
    if (error === undefined) outcome = { kind: 'delivered', at: now }
    else {
      const givesUpAt = event.attemptsSince.getTime() + GIVE_UP_AFTER_S * 1000
      const next = now.getTime() + retryDelaySeconds(event.attempts + 1, random) * 1000
      outcome =
        now.getTime() >= givesUpAt
          ? { kind: 'failed', at: now, error }
          : // the last attempt falls on the 24-hour mark, not after it
            { kind: 'retry', at: now, error, nextAttemptAt: new Date(Math.min(next, givesUpAt)) }
    }
    await store.recordAttempt(event.id, outcome)
    deps.metrics?.webhookAttempt(event.type, outcome.kind, seconds)
    if (outcome.kind === 'delivered') report.delivered++
    else if (outcome.kind === 'retry') report.retried++
    else {
      report.failed++
      if (logger) {
        logger.warn(
          { webhookId: event.id, type: event.type, attempts: event.attempts + 1, error },
          'webhook event gave up after 24 hours of retries; tessera webhooks retry sends it again',
        )
      }
    }
  }

  async function deliverDue(): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, retried: 0, failed: 0 }
    for (;;) {
      if (stopped) return report
      const now = clock.now()
      const leaseUntil = new Date(now.getTime() + (config.webhookTimeout + LEASE_MARGIN_S) * 1000)
      const claimed = await store.claimDue(now, leaseUntil, BATCH)
      await Promise.all(claimed.map((event) => attempt(event, report)))
      // a claimed event is not due again before its lease ends: the loop ends once none is left
      if (claimed.length < BATCH) return report
    }
  }

  const runOnce = (): Promise<DeliveryReport> => {
    running ??= deliverDue().finally(() => {
      running = undefined
    })
    return running
  }

  let timer: NodeJS.Timeout | undefined
  const schedule = (ms: number) => {
    if (stopped) return
    timer = setTimeout(() => {
      runOnce().then(
        () => schedule(options.pollIntervalMs ?? POLL_INTERVAL_MS),
        (error: unknown) => {
          // no caller to throw to: the next look tries again (the database may be back by then)
          if (logger) logger.warn({ err: error }, 'webhook delivery failed; trying again shortly')
          schedule(POLL_AFTER_ERROR_MS)
        },
      )
    }, ms)
    timer.unref()
  }
  if (options.background) schedule(0)

  return {
    deliverDue: runOnce,
    async stop() {
      stopped = true
      clearTimeout(timer)
      stopping.abort()
      await running?.catch(() => undefined)
    },
  }
}

/** A network failure in a few words for `last_error`: the error's code (ECONNREFUSED), never a body. */
function describeFailure(cause: unknown): string {
  const inner = cause instanceof Error ? (cause.cause as { code?: unknown } | undefined) : undefined
  if (inner && typeof inner.code === 'string') return inner.code
  return cause instanceof Error ? cause.message.slice(0, 200) : 'request failed'
}

/** The most of a receiver's answer read before the connection is dropped instead. */
const ANSWER_READ_LIMIT = 64 * 1024

/** Reads and discards an answer's body, so the connection can be reused; a large one is cut off. */
async function drain(response: Response): Promise<void> {
  if (!response.body) return
  const reader = response.body.getReader()
  let read = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    read += value.byteLength
    if (read > ANSWER_READ_LIMIT) {
      await reader.cancel()
      return
    }
  }
}
