import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import type { Clock } from '../clock.js'
import type { WebhookOutboxRow } from './database.js'
import type { Db } from './db.js'
import type { UserRecord } from './records.js'

/*
 * The webhook outbox (docs/webhooks.md). A flow enqueues an event in the transaction of the change
 * it tells of, so the event exists if and only if the change committed; the delivery loop
 * (webhooks/delivery.ts) sends it afterwards, never on the request path, and a crash in between
 * loses nothing: the row waits in the database for the next start.
 */

/** Every event type, as API.md lists them. */
export const WEBHOOK_EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.deleted',
  'user.disabled',
  'user.enabled',
  'session.created',
  'session.revoked',
  'password.changed',
  'email.verified',
  'mfa.enabled',
  'mfa.disabled',
] as const
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

/** A user in an event: never a password hash or a token. */
export interface WebhookUser {
  id: string
  email: string
  name: string | null
  roles: string[]
  emailVerified: boolean
  disabled: boolean
  /** ISO 8601. */
  createdAt: string
}

/** A session in an event. */
export interface WebhookSession {
  id: string
  userId: string
}

/** What an event's `data` holds: the user or the session it is about, and details of its type. */
export type WebhookData =
  | ({ user: WebhookUser } & Record<string, unknown>)
  | ({ session: WebhookSession } & Record<string, unknown>)

export interface NewWebhookEvent {
  type: WebhookEventType
  data: WebhookData
}

/** The user as events show it. */
export const webhookUser = (user: UserRecord): WebhookUser => ({
  id: user.id,
  email: user.email,
  name: user.name,
  roles: [...user.roles],
  emailVerified: user.emailVerified,
  disabled: user.disabledAt !== null,
  createdAt: user.createdAt.toISOString(),
})

/** One outbox row, as the delivery loop and the CLI see it. */
export interface OutboxEvent {
  /** The `webhook-id` header. */
  id: string
  type: string
  /** The exact body sent. */
  payload: string
  createdAt: Date
  attempts: number
  attemptsSince: Date
  lastError: string | null
  deliveredAt: Date | null
  failedAt: Date | null
}

const toOutboxEvent = (row: WebhookOutboxRow): OutboxEvent => ({
  id: row.id,
  type: row.type,
  payload: row.payload,
  createdAt: row.created_at,
  attempts: row.attempts,
  attemptsSince: row.attempts_since,
  lastError: row.last_error,
  deliveredAt: row.delivered_at,
  failedAt: row.failed_at,
})

/** How the outbox is written: nothing at all without TESSERA_WEBHOOK_URL. */
export interface WebhookOptions {
  /** The time of an event (its `timestamp` and `created_at`). */
  clock: Clock
}

/** What one attempt ended with. */
export type AttemptOutcome =
  | { kind: 'delivered'; at: Date }
  /** Another attempt at `nextAttemptAt`. */
  | { kind: 'retry'; at: Date; error: string; nextAttemptAt: Date }
  /** Given up: listed by `tessera webhooks failed`. */
  | { kind: 'failed'; at: Date; error: string }

export interface WebhookStore {
  /**
   * Writes an event to the outbox in the caller's transaction (`tx.webhooks.enqueue`): it is sent
   * once that commits, and never if it rolls back. Writes nothing when webhooks are not configured.
   */
  enqueue(event: NewWebhookEvent): Promise<void>
  /**
   * Takes up to `limit` events due at `now` for one attempt each: their next attempt moves to
   * `leaseUntil`, so another instance (or this one, after a crash) takes them again only then.
   * Rows another instance is taking at this moment are skipped, not waited for.
   */
  claimDue(now: Date, leaseUntil: Date, limit: number): Promise<OutboxEvent[]>
  /** Records the end of an attempt. */
  recordAttempt(id: string, outcome: AttemptOutcome): Promise<void>
  /** Hands a claimed event back untried (the server is stopping): due again at `at`. */
  release(id: string, at: Date): Promise<void>
  /** The events that gave up, oldest first. */
  listFailed(limit: number): Promise<OutboxEvent[]>
  /** Queues given-up events again (`ids`, or all with `'all'`) for a new 24-hour series; answers how many. */
  requeueFailed(ids: readonly string[] | 'all', now: Date): Promise<number>
  /** Events still to deliver (neither delivered nor given up): the backlog gauge. */
  countPending(): Promise<number>
  /** One event by id (tests, the CLI). */
  find(id: string): Promise<OutboxEvent | undefined>
  /** Deletes events delivered before `before`; answers how many. */
  pruneDelivered(before: Date): Promise<number>
}

/** Rows per DELETE of the pruning, as housekeeping deletes. */
const PRUNE_BATCH = 500

/** `msg_` and 128 random bits: the `webhook-id`. */
export const newWebhookId = (): string => `msg_${randomBytes(16).toString('base64url')}`

/** An event's new outbox row, due at once; undefined when webhooks are off. */
export function outboxRow(
  event: NewWebhookEvent,
  options: WebhookOptions | undefined,
): { id: string; type: WebhookEventType; payload: string; createdAt: Date } | undefined {
  if (!options) return undefined
  const now = options.clock.now()
  // serialised once: every attempt signs and sends these bytes
  const payload = JSON.stringify({ type: event.type, timestamp: now.toISOString(), data: event.data })
  return { id: newWebhookId(), type: event.type, payload, createdAt: now }
}

/**
 * The outbox on `db` (a transaction, or the pool). `options` undefined: webhooks are off, and
 * `enqueue` writes nothing (the table does not grow for nobody).
 */
export function createWebhookStore(db: Db, options: WebhookOptions | undefined): WebhookStore {
  return {
    async enqueue(event) {
      const row = outboxRow(event, options)
      if (!row) return
      await db
        .insertInto('webhook_outbox')
        .values({
          id: row.id,
          type: row.type,
          payload: row.payload,
          created_at: row.createdAt,
          next_attempt_at: row.createdAt,
          attempts_since: row.createdAt,
        })
        .execute()
    },
    async claimDue(now, leaseUntil, limit) {
      const claim = async (tx: Db) => {
        const result = await sql<WebhookOutboxRow>`
          update webhook_outbox set next_attempt_at = ${leaseUntil}
          where id in (
            select id from webhook_outbox
            where delivered_at is null and failed_at is null and next_attempt_at <= ${now}
            order by next_attempt_at
            limit ${limit}
            for update skip locked
          )
          returning *
        `.execute(tx)
        return result.rows
      }
      const rows = db.isTransaction ? await claim(db) : await db.transaction().execute(claim)
      return rows.map(toOutboxEvent).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
    },
    async recordAttempt(id, outcome) {
      await db
        .updateTable('webhook_outbox')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          last_error: outcome.kind === 'delivered' ? null : outcome.error,
          ...(outcome.kind === 'delivered' ? { delivered_at: outcome.at } : {}),
          ...(outcome.kind === 'retry' ? { next_attempt_at: outcome.nextAttemptAt } : {}),
          ...(outcome.kind === 'failed' ? { failed_at: outcome.at } : {}),
        }))
        .where('id', '=', id)
        .execute()
    },
    async release(id, at) {
      await db
        .updateTable('webhook_outbox')
        .set({ next_attempt_at: at })
        .where('id', '=', id)
        .where('delivered_at', 'is', null)
        .where('failed_at', 'is', null)
        .execute()
    },
    async listFailed(limit) {
      const rows = await db
        .selectFrom('webhook_outbox')
        .selectAll()
        .where('failed_at', 'is not', null)
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit)
        .execute()
      return rows.map(toOutboxEvent)
    },
    async requeueFailed(ids, now) {
      if (ids !== 'all' && ids.length === 0) return 0
      let query = db
        .updateTable('webhook_outbox')
        .set({ failed_at: null, attempts: 0, next_attempt_at: now, attempts_since: now })
        .where('failed_at', 'is not', null)
      if (ids !== 'all') query = query.where('id', 'in', [...ids])
      const result = await query.executeTakeFirst()
      return Number(result.numUpdatedRows)
    },
    async countPending() {
      const row = await db
        .selectFrom('webhook_outbox')
        .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
        .where('delivered_at', 'is', null)
        .where('failed_at', 'is', null)
        .executeTakeFirstOrThrow()
      return Number(row.count)
    },
    async find(id) {
      const row = await db.selectFrom('webhook_outbox').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toOutboxEvent(row)
    },
    async pruneDelivered(before) {
      let total = 0
      for (;;) {
        const deleted = await db
          .deleteFrom('webhook_outbox')
          .where(
            'id',
            'in',
            db
              .selectFrom('webhook_outbox')
              .select('id')
              .where('delivered_at', '<', before)
              .limit(PRUNE_BATCH),
          )
          .executeTakeFirst()
        const count = Number(deleted.numDeletedRows)
        total += count
        if (count < PRUNE_BATCH) return total
      }
    },
  }
}
