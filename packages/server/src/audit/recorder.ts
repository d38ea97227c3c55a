import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { AuthEvent, AuthEvents, AuthEventType } from '../events.js'
import type { Metrics } from '../metrics.js'
import type { AuthEventStore } from '../store/auth-events.js'

export interface EventRecorderDeps {
  /** Where rows go: the root store, never one bound to a flow's transaction. */
  store: Pick<AuthEventStore, 'insert'>
  clock: Clock
  logger: Logger | false
  /** Counts every event and every failed write; the CLI, which serves no metrics, leaves it out. */
  metrics?: Pick<Metrics, 'authEvent' | 'auditWriteFailed'> | undefined
}

export interface EventRecorder extends AuthEvents {
  /** Resolves once every write started so far has finished: before shutdown, and in a CLI before exit. */
  flush(): Promise<void>
}

/** Counted in metrics, not written: a refresh every few minutes per client would swamp the log. */
const METRICS_ONLY: ReadonlySet<AuthEventType> = new Set(['refresh'])

const USER_AGENT_MAX = 512

/**
 * The audit log behind `deps.events`. `record` returns at once: the row is written after the
 * flow's answer is on its way, so a slow or failing audit table never slows down or fails a login.
 * A failed write is counted and logged at warn with the whole event, so nothing is lost silently.
 */
export function createEventRecorder(deps: EventRecorderDeps): EventRecorder {
  const { store, clock, logger, metrics } = deps
  const pending = new Set<Promise<void>>()

  function write(event: AuthEvent, createdAt: Date): void {
    // deferred by a microtask: even a store that throws synchronously cannot reach the flow
    const writing = Promise.resolve()
      .then(() =>
        store.insert({
          id: randomUUID(),
          type: event.type,
          userId: event.userId ?? null,
          sessionId: event.sessionId ?? null,
          ip: event.ip ?? null,
          userAgent: event.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
          detail: event.detail ?? {},
          createdAt,
        }),
      )
      .catch((error: unknown) => {
        metrics?.auditWriteFailed()
        if (logger) {
          logger.warn(
            { err: error, auditEvent: { ...event, at: createdAt.toISOString() } },
            'audit event not written',
          )
        }
      })
      .finally(() => {
        pending.delete(writing)
      })
    pending.add(writing)
  }

  return {
    record(event) {
      metrics?.authEvent(event.type)
      // the time of the event, not of the write that may come later
      if (!METRICS_ONLY.has(event.type)) write(event, clock.now())
    },
    async flush() {
      while (pending.size > 0) await Promise.all(pending)
    },
  }
}
