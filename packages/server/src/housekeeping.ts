import type { Logger } from 'pino'
import { pruneAuditLog } from './audit/retention.js'
import type { Clock } from './clock.js'
import type { Config } from './config.js'
import { createAuthEventStore } from './store/auth-events.js'
import type { Db } from './store/db.js'
import type { HousekeepingStore } from './store/housekeeping.js'
import { createMfaTokenStore } from './store/mfa-tokens.js'
import { createRevocationEventStore } from './store/revocation-events.js'
import { createWebauthnChallengeStore } from './store/webauthn-challenges.js'
import { createWebhookStore } from './store/webhooks.js'

/** More rows to delete under the housekeeping lock, e.g. audit events past their retention. */
export interface HousekeepingTask {
  /** The key of its count in the report. */
  name: string
  /** Deletes what is due at `now`, inside the housekeeping transaction; answers how many rows went. */
  run(db: Db, now: Date): Promise<number>
}

/** Audit events past TESSERA_AUDIT_RETENTION go in the housekeeping run, under its lock. */
export const auditRetentionTask = (config: Pick<Config, 'auditRetention'>): HousekeepingTask => ({
  name: 'authEvents',
  run: (db, now) => pruneAuditLog({ store: createAuthEventStore(db), clock: { now: () => now }, config }),
})

/**
 * Seconds a revocation event is kept after its last token expired: a service that was away less
 * than this resumes from its Last-Event-ID; one away longer gets a `reset` (API.md).
 */
export const REVOCATION_EVENT_MARGIN_S = 3600

/** Revocation events whose tokens all expired more than the margin ago go, under the same lock. */
export const revocationEventsTask: HousekeepingTask = {
  name: 'revocationEvents',
  run: (db, now) =>
    createRevocationEventStore(db, { defer: undefined, notify: () => {} }).prune(
      new Date(now.getTime() - REVOCATION_EVENT_MARGIN_S * 1000),
    ),
}

/**
 * mfaTokens and enrolment tokens go once expired (5 and 15 minutes after the first factor), spent
 * or not, with the passkey challenges made for them: a dead token is refused either way.
 */
export const mfaTokensTask: HousekeepingTask = {
  name: 'mfaTokens',
  run: (db, now) => createMfaTokenStore(db).deleteExpired(now),
}

/**
 * WebAuthn challenges go once expired (5 minutes after they were made), used or not: a dead
 * challenge is refused whether or not its row exists, and nothing else reads it.
 */
export const webauthnChallengesTask: HousekeepingTask = {
  name: 'webauthnChallenges',
  run: (db, now) => createWebauthnChallengeStore(db).deleteExpired(now),
}

/**
 * Webhook events delivered more than TESSERA_WEBHOOK_RETENTION ago go; those that gave up stay
 * (`tessera webhooks failed` lists them) until retried and delivered.
 */
export const webhookOutboxTask = (config: Pick<Config, 'webhookRetention'>): HousekeepingTask => ({
  name: 'webhookOutbox',
  run: (db, now) =>
    createWebhookStore(db, undefined).pruneDelivered(
      new Date(now.getTime() - config.webhookRetention * 1000),
    ),
})

export type HousekeepingReport =
  /** Another instance held the lock: it is doing this run. */
  | { status: 'skipped' }
  | {
      status: 'done'
      deleted: { sessions: number; oneTimeTokens: number } & Record<string, number>
      /** Tables vacuumed after the deletions: the embedded database's; 0 on PostgreSQL, or when it failed. */
      vacuumed: number
      /** Why the vacuum stopped short; the deletions above have committed all the same. */
      vacuumError?: unknown
    }

export interface HousekeepingDeps {
  store: HousekeepingStore
  clock: Clock
  config: Pick<Config, 'housekeepingInterval' | 'housekeepingGrace'>
  logger: Logger | false
  tasks?: readonly HousekeepingTask[]
}

/**
 * One housekeeping run, by one instance at a time (the others answer `skipped`). Deletes what no
 * answer of the server depends on any more, once it has been dead for `housekeepingGrace`:
 *
 * - Sessions revoked, idle-expired or past their absolute lifetime. A dead session's refresh token is
 *   refused whether or not its rows exist, so deleting changes no answer; the grace keeps the row
 *   (when and why it was revoked, from which IP) for someone looking into an incident, and means
 *   instances whose clocks disagree by less than it never delete a session another takes for live.
 *   Refresh tokens go with their session (the foreign key cascades).
 * - Refresh tokens of live sessions: never, not even the used ones. A used token must still be
 *   found, for two reasons: inside TESSERA_REFRESH_REUSE_GRACE its `successor_sealed` answers a
 *   racing repeat, and after it a replay must be recognised as reuse, answered REFRESH_TOKEN_REUSED
 *   and the session revoked. Deleted, a stolen token replayed would only get REFRESH_TOKEN_INVALID
 *   and the thief's branch of the session would live on. Their number is bounded by the session's
 *   absolute lifetime, and they leave with the session.
 * - One-time tokens expired, used or voided before the grace (a dead token is refused either way).
 * - Whatever `tasks` add (audit events past their retention).
 *
 * Then, on the embedded database, which has no autovacuum, every table is vacuumed and analyzed.
 */
export async function runHousekeeping(
  deps: Pick<HousekeepingDeps, 'store' | 'clock' | 'config' | 'tasks'> & {
    /** True once the run should end early (the server is stopping): the vacuum stops between tables. */
    stopping?: () => boolean
  },
): Promise<HousekeepingReport> {
  const outcome = await deps.store.exclusively(async (tx) => {
    const now = deps.clock.now()
    const before = new Date(now.getTime() - deps.config.housekeepingGrace * 1000)
    const deleted: { sessions: number; oneTimeTokens: number } & Record<string, number> = {
      sessions: await tx.deleteDeadSessions(before),
      oneTimeTokens: await tx.deleteSpentOneTimeTokens(before),
    }
    for (const task of deps.tasks ?? []) deleted[task.name] = await task.run(tx.db, now)
    return deleted
  })
  if (!outcome.ran) return { status: 'skipped' }
  const deleted = outcome.result
  try {
    return { status: 'done', deleted, vacuumed: await deps.store.vacuum(deps.stopping) }
  } catch (error) {
    // the deletions committed: a report that says so, rather than a failed run that hides them
    return { status: 'done', deleted, vacuumed: 0, vacuumError: error }
  }
}

export interface Housekeeping {
  /** Runs now (or joins the run under way in this process). */
  runOnce(): Promise<HousekeepingReport>
  /** Stops the schedule and waits for a run under way, so the database can close after it. */
  stop(): Promise<void>
}

/** The first run waits at most this long, so instances restarted more often than the interval still clean up. */
const FIRST_RUN_MAX_DELAY_S = 60

/** Runs housekeeping every `housekeepingInterval`; the timer does not keep the process alive. */
export function startHousekeeping(deps: HousekeepingDeps): Housekeeping {
  const { logger } = deps
  let running: Promise<HousekeepingReport> | undefined
  let stopped = false

  const runOnce = (): Promise<HousekeepingReport> => {
    running ??= (async () => {
      const started = performance.now()
      try {
        const report = await runHousekeeping({ ...deps, stopping: () => stopped })
        if (logger) {
          if (report.status === 'skipped') logger.debug('housekeeping: another instance is running it')
          else if (report.vacuumError !== undefined)
            logger.warn(
              { err: report.vacuumError, deleted: report.deleted, vacuumed: report.vacuumed },
              'housekeeping done, but vacuuming the embedded database failed; trying again at the next interval',
            )
          else
            logger.info(
              {
                deleted: report.deleted,
                vacuumed: report.vacuumed,
                ms: Math.round(performance.now() - started),
              },
              'housekeeping done',
            )
        }
        return report
      } finally {
        running = undefined
      }
    })()
    return running
  }

  let timer: NodeJS.Timeout | undefined
  const schedule = (seconds: number) => {
    if (stopped) return
    timer = setTimeout(() => {
      runOnce()
        .catch((error: unknown) => {
          // a background run has no caller to throw to; the next interval tries again
          if (logger) logger.error({ err: error }, 'housekeeping failed; trying again at the next interval')
        })
        .finally(() => schedule(deps.config.housekeepingInterval))
    }, seconds * 1000)
    timer.unref()
  }
  schedule(Math.min(deps.config.housekeepingInterval, FIRST_RUN_MAX_DELAY_S))

  return {
    runOnce,
    async stop() {
      stopped = true
      clearTimeout(timer)
      // the run's own failure was reported to whoever awaited it
      await running?.catch(() => undefined)
    },
  }
}
