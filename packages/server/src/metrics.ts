import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { type Clock, systemClock } from './clock.js'
import { AUTH_EVENT_TYPES, type AuthEventType } from './events.js'
import { WEBHOOK_EVENT_TYPES } from './store/webhooks.js'

export interface MetricsOptions {
  /** Counts live sessions for `tessera_active_sessions`; runs at scrape time, never more often than the cache allows. */
  countActiveSessions?: () => Promise<number>
  /** Seconds a session count is reused across scrapes; default 5. */
  activeSessionsCacheSeconds?: number
  /** The time the session-count cache goes by; default the system clock. */
  clock?: Clock
  /** Told when counting sessions failed; the gauge keeps its last value and the scrape still answers. */
  onCollectError?: (error: unknown) => void
  /**
   * What {@link Metrics.scrape} answers instead of this process's registry: in a `serve --workers`
   * worker, the whole service's metrics, which the primary adds up from every worker's {@link Metrics.snapshot}.
   */
  scrape?: () => Promise<string>
  /** Counts the webhook events still to deliver for `tessera_webhook_backlog`, at scrape time; unset: no such gauge. */
  countWebhookBacklog?: () => Promise<number>
}

/** One process's metrics as prom-client's JSON (`Registry.getMetricsAsJSON()`), for {@link aggregateMetrics}. */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

export interface HttpRequestLabels {
  /** The route pattern (`/auth/sessions/:id`), never the raw URL; `unmatched` for no route. */
  route: string
  method: string
  status: number
}

/** A request Tessera sent to a sign-in provider. */
export interface ProviderRequestLabels {
  /** The provider id of TESSERA_OAUTH_PROVIDERS. */
  provider: string
  /** What was asked: `discovery`, `token`, `jwks`, `userinfo`, `user`, `emails` or `other`. */
  endpoint: string
  /** No answer (refused, timed out) or a 5xx. */
  failed: boolean
}

/** What the sign-in providers count (`tessera_provider_*`). */
export interface ProviderMetrics {
  /** `tessera_provider_requests_total`, `…_request_failures_total`, `…_request_duration_seconds`. */
  providerRequest(labels: ProviderRequestLabels, seconds: number): void
  /** `tessera_provider_sign_ins_total{provider,outcome}`: `started`, `succeeded`, or the error code. */
  providerSignIn(provider: string, outcome: string): void
}

/** The server's Prometheus metrics, on a registry of its own. */
export interface Metrics extends ProviderMetrics {
  /** `tessera_auth_events_total{type}`. */
  authEvent(type: AuthEventType): void
  /** `tessera_audit_write_failures_total`: an audit row that could not be written. */
  auditWriteFailed(): void
  /** `tessera_http_requests_total` and `tessera_http_request_duration_seconds`. */
  httpRequest(labels: HttpRequestLabels, seconds: number): void
  /** `tessera_password_hash_in_flight`: hashes and verifications running on the thread pool. */
  readonly hashInFlight: { inc(): void; dec(): void }
  /** `tessera_password_hash_queued`: hashes waiting for a turn (TESSERA_HASH_CONCURRENCY). */
  readonly hashQueued: { inc(): void; dec(): void }
  /**
   * One webhook delivery attempt of an event of `type`: `tessera_webhook_deliveries_total`,
   * `tessera_webhook_retries_total` or `tessera_webhook_failures_total` by its outcome, and
   * `tessera_webhook_delivery_duration_seconds`.
   */
  webhookAttempt(type: string, outcome: 'delivered' | 'retry' | 'failed', seconds: number): void
  /** The Prometheus text exposition of every metric. */
  scrape(): Promise<string>
  /** This process's own metrics, whatever {@link scrape} answers. */
  snapshot(): Promise<MetricsSnapshot>
  /** The content type of {@link scrape}'s text. */
  readonly contentType: string
}

// seconds: from a cached JWKS answer (ms) to an argon2 login under load (around a second)
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Creates the metrics on their own registry, not prom-client's global one: two servers in one
 * process (tests, or an embedding application with its own metrics) never clash over names.
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const clock = options.clock ?? systemClock
  const cacheMs = (options.activeSessionsCacheSeconds ?? 5) * 1000
  if (!Number.isFinite(cacheMs) || cacheMs < 0) {
    throw new RangeError('activeSessionsCacheSeconds must be a number of seconds, 0 or more')
  }
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const authEvents = new Counter({
    name: 'tessera_auth_events_total',
    help: 'Authentication events by type (login_succeeded, login_failed, refresh_reuse_detected, ...).',
    labelNames: ['type'] as const,
    registers: [registry],
  })
  // every type starts at 0, so rate() and increase() see the first event of a type, too
  for (const type of AUTH_EVENT_TYPES) authEvents.inc({ type }, 0)

  const auditWriteFailures = new Counter({
    name: 'tessera_audit_write_failures_total',
    help: 'Audit events that could not be written to the database (each is logged at warn).',
    registers: [registry],
  })

  const httpRequests = new Counter({
    name: 'tessera_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  })
  const httpDuration = new Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'Time from receiving a request to finishing its response, by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  })

  const hashInFlight = new Gauge({
    name: 'tessera_password_hash_in_flight',
    help: 'Password hashes and verifications running now (argon2 on the libuv thread pool).',
    registers: [registry],
  })

  const hashQueued = new Gauge({
    name: 'tessera_password_hash_queued',
    help: 'Password hashes and verifications waiting for a turn; a full line answers 503.',
    registers: [registry],
  })

  const providerSignIns = new Counter({
    name: 'tessera_provider_sign_ins_total',
    help: 'Sign-ins with a provider by provider id and outcome: started, succeeded, or the error code (lower case).',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  })
  const providerRequests = new Counter({
    name: 'tessera_provider_requests_total',
    help: 'Requests sent to sign-in providers, by provider id and endpoint (discovery, token, jwks, userinfo, user, emails).',
    labelNames: ['provider', 'endpoint'] as const,
    registers: [registry],
  })
  const providerFailures = new Counter({
    name: 'tessera_provider_request_failures_total',
    help: 'Requests to sign-in providers that got no answer (refused, timed out) or a 5xx.',
    labelNames: ['provider', 'endpoint'] as const,
    registers: [registry],
  })
  const providerDuration = new Histogram({
    name: 'tessera_provider_request_duration_seconds',
    help: 'Time a sign-in provider took to answer a request (or to fail), by provider id and endpoint.',
    labelNames: ['provider', 'endpoint'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  })

  const countActiveSessions = options.countActiveSessions
  if (countActiveSessions) {
    let cached: { value: number; at: number } | undefined
    let counting: Promise<void> | undefined
    new Gauge({
      name: 'tessera_active_sessions',
      help: `Live (not revoked, not expired) sessions, counted at scrape time; cached ${cacheMs / 1000} s.`,
      registers: [registry],
      // every worker counts the same table: adding their counts up would multiply the sessions. The
      // largest, as a worker whose count failed reports 0 or an older value
      aggregator: 'max',
      async collect() {
        const now = clock.now().getTime()
        if (cached === undefined || now - cached.at >= cacheMs) {
          // parallel scrapes share one count query
          counting ??= countActiveSessions()
            .then((value) => {
              cached = { value, at: now }
            })
            .catch((error: unknown) => options.onCollectError?.(error))
            .finally(() => {
              counting = undefined
            })
          await counting
        }
        if (cached !== undefined) this.set(cached.value)
      },
    })
  }

  const webhookDeliveries = new Counter({
    name: 'tessera_webhook_deliveries_total',
    help: 'Webhook events delivered (answered 2xx), by event type.',
    labelNames: ['type'] as const,
    registers: [registry],
  })
  const webhookRetries = new Counter({
    name: 'tessera_webhook_retries_total',
    help: 'Webhook delivery attempts that failed and will be retried, by event type.',
    labelNames: ['type'] as const,
    registers: [registry],
  })
  const webhookFailures = new Counter({
    name: 'tessera_webhook_failures_total',
    help: 'Webhook events that gave up after 24 hours of retries, by event type (tessera webhooks failed).',
    labelNames: ['type'] as const,
    registers: [registry],
  })
  for (const type of WEBHOOK_EVENT_TYPES) {
    webhookDeliveries.inc({ type }, 0)
    webhookRetries.inc({ type }, 0)
    webhookFailures.inc({ type }, 0)
  }
  const webhookDuration = new Histogram({
    name: 'tessera_webhook_delivery_duration_seconds',
    help: 'Time one webhook delivery attempt took, from sending to the answer (or the error), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  })
  const countWebhookBacklog = options.countWebhookBacklog
  if (countWebhookBacklog) {
    new Gauge({
      name: 'tessera_webhook_backlog',
      help: 'Webhook events waiting to be delivered (neither delivered nor given up), counted at scrape time.',
      registers: [registry],
      // every worker counts the same table: the largest, as the session count
      aggregator: 'max',
      async collect() {
        try {
          this.set(await countWebhookBacklog())
        } catch (error) {
          options.onCollectError?.(error)
        }
      },
    })
  }

  return {
    webhookAttempt(type, outcome, seconds) {
      const counter =
        outcome === 'delivered' ? webhookDeliveries : outcome === 'retry' ? webhookRetries : webhookFailures
      counter.inc({ type })
      webhookDuration.observe({ outcome: outcome === 'delivered' ? 'delivered' : 'error' }, seconds)
    },
    authEvent: (type) => authEvents.inc({ type }),
    auditWriteFailed: () => auditWriteFailures.inc(),
    httpRequest({ route, method, status }, seconds) {
      httpRequests.inc({ route, method, status: String(status) })
      httpDuration.observe({ route, method }, seconds)
    },
    providerRequest({ provider, endpoint, failed }, seconds) {
      providerRequests.inc({ provider, endpoint })
      // 0 on success, so the series exists before its first failure (rate() sees that one too)
      providerFailures.inc({ provider, endpoint }, failed ? 1 : 0)
      providerDuration.observe({ provider, endpoint }, seconds)
    },
    providerSignIn: (provider, outcome) => providerSignIns.inc({ provider, outcome }),
    hashInFlight: { inc: () => hashInFlight.inc(), dec: () => hashInFlight.dec() },
    hashQueued: { inc: () => hashQueued.inc(), dec: () => hashQueued.dec() },
    scrape: options.scrape ?? (() => registry.metrics()),
    snapshot: () => registry.getMetricsAsJSON(),
    contentType: registry.contentType,
  }
}

/**
 * The Prometheus text of several processes' metrics as one service: counters and histograms add
 * up; a metric that declares another `aggregator` (the session count, prom-client's process
 * start time and version) is combined that way instead.
 */
export function aggregateMetrics(snapshots: MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots).metrics()
}
