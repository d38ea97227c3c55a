import { sql } from 'kysely'
import type { Db } from './db.js'
import { type RevocationEventRecord, toRevocationEvent } from './records.js'

/*
 * The revocation feed's events. The session and user stores write them with the change that
 * causes them (so no revocation can forget its event), in the same transaction, under a
 * transaction-scoped advisory lock: an event's id is drawn only after the previous writer
 * committed, so ids become visible in order and a reader following `id > last` never skips one
 * that commits late. The lock is the last thing a transaction takes (the events are appended when
 * the work is done, just before the commit), so a writer never waits for a row while holding it,
 * and two writers cannot deadlock over it.
 */

/** pg_advisory_xact_lock key of the writers: "tessera revocations" (any constant unique to us). */
export const REVOCATION_LOCK = 0x7e55e7a_0001n

const revocationLock = sql`pg_advisory_xact_lock(${sql.lit(REVOCATION_LOCK.toString())}::bigint)`

/** An event to append, in the store's words. */
export type NewRevocationEvent =
  | { kind: 'session'; sid: string; sub: string; expiresAt: Date; at: Date }
  | { kind: 'user'; sub: string; notBefore: Date; expiresAt: Date; at: Date }

/** Takes the writers' lock and appends `events`; the caller is inside a transaction. */
export async function appendEvents(tx: Db, events: readonly NewRevocationEvent[]): Promise<void> {
  if (events.length === 0) return
  await sql`select ${revocationLock}`.execute(tx)
  await tx
    .insertInto('revocation_events')
    .values(
      events.map((event) => ({
        kind: event.kind,
        sid: event.kind === 'session' ? event.sid : null,
        sub: event.sub,
        not_before: event.kind === 'user' ? event.notBefore : null,
        expires_at: event.expiresAt,
        created_at: event.at,
      })),
    )
    .execute()
}

/**
 * Where a store hands the events of a change. Inside `stores.transaction` they wait for the end of
 * the caller's work (`defer`); outside one, the store runs the change and the append in a
 * transaction of its own. `notify` is told once they are committed.
 */
export interface RevocationWriter {
  defer: ((events: readonly NewRevocationEvent[]) => void) | undefined
  notify: () => void
}

/**
 * Runs `change` and appends the events it records, in one transaction: the caller's (the events
 * deferred to its end) or one of its own.
 */
export async function withRevocations<T>(
  db: Db,
  writer: RevocationWriter,
  change: (tx: Db, record: (events: readonly NewRevocationEvent[]) => void) => Promise<T>,
): Promise<T> {
  if (writer.defer) return change(db, writer.defer)
  const recorded: NewRevocationEvent[] = []
  const record = (events: readonly NewRevocationEvent[]) => {
    recorded.push(...events)
  }
  const run = async (tx: Db) => {
    const result = await change(tx, record)
    await appendEvents(tx, recorded)
    return result
  }
  // a transaction the store was handed without a writer to defer to (createStores on one): the
  // events go in it at once
  const result = db.isTransaction ? await run(db) : await db.transaction().execute(run)
  if (recorded.length > 0) writer.notify()
  return result
}

/** The next whole second after `at`: a `user` event's `notBefore` (API.md), as a Date. */
export const nextWholeSecond = (at: Date): Date => new Date((Math.floor(at.getTime() / 1000) + 1) * 1000)

export interface NewUserEvent {
  /** A user id, or a service client id. */
  sub: string
  /** Tokens of `sub` with `iat` before this are stale. */
  notBefore: Date
  /** When the last token it concerns expires anyway. */
  expiresAt: Date
  at: Date
}

export interface RevocationEventStore {
  /** Appends a `user` event (in the caller's transaction, if any). */
  appendUserEvent(event: NewUserEvent): Promise<void>
  /** Events with an id above `after`, oldest first, at most `limit`. */
  listAfter(after: bigint, limit: number): Promise<RevocationEventRecord[]>
  /** Events still in force at `now` with an id up to `through`, oldest first: a new subscriber's start. */
  listInForce(now: Date, through: bigint): Promise<RevocationEventRecord[]>
  /** The highest id handed out so far (0 before the first event). */
  lastId(): Promise<bigint>
  /** The highest id pruned so far: a subscriber resuming from below it missed events. */
  prunedThrough(): Promise<bigint>
  /** Deletes the events whose tokens all expired before `before`; answers how many. */
  prune(before: Date): Promise<number>
}

export function createRevocationEventStore(db: Db, writer: RevocationWriter): RevocationEventStore {
  return {
    async appendUserEvent(event) {
      await withRevocations(db, writer, async (_tx, record) => record([{ kind: 'user', ...event }]))
    },
    async listAfter(after, limit) {
      const rows = await db
        .selectFrom('revocation_events')
        .selectAll()
        .where('id', '>', after.toString() as never)
        .orderBy('id')
        .limit(limit)
        .execute()
      return rows.map(toRevocationEvent)
    },
    async listInForce(now, through) {
      const rows = await db
        .selectFrom('revocation_events')
        .selectAll()
        .where('expires_at', '>', now)
        .where('id', '<=', through.toString() as never)
        .orderBy('id')
        .execute()
      return rows.map(toRevocationEvent)
    },
    async lastId() {
      const row = await sql<{ id: string | null }>`select max(id)::text as id from revocation_events`.execute(
        db,
      )
      const pruned = await this.prunedThrough()
      const last = BigInt(row.rows[0]?.id ?? 0)
      return last > pruned ? last : pruned
    },
    async prunedThrough() {
      const row = await sql<{
        id: string
      }>`select pruned_through::text as id from revocation_feed where id = 1`.execute(db)
      return BigInt(row.rows[0]?.id ?? 0)
    },
    async prune(before) {
      // one statement: the deleted ids and the new high-water mark together
      const result = await sql<{ count: string }>`
        with deleted as (
          delete from revocation_events where expires_at < ${before} returning id
        ), mark as (
          update revocation_feed set pruned_through = greatest(pruned_through, (select max(id) from deleted))
          where id = 1 and exists (select 1 from deleted)
        )
        select count(*)::text as count from deleted
      `.execute(db)
      return Number(result.rows[0]?.count ?? 0)
    },
  }
}
