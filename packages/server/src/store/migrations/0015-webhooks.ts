import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // the webhook outbox: each row is written in the transaction of the change it tells of, so an
  // event exists exactly when its change committed; the delivery loop sends it afterwards
  await db.schema
    .createTable('webhook_outbox')
    // the `webhook-id` header: `msg_` and random, the same on every attempt
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('type', 'text', (col) => col.notNull())
    // the exact body sent, `{ type, timestamp, data }` serialised once: every attempt signs the same bytes
    .addColumn('payload', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    // when the next attempt is due; while an attempt runs, the end of its lease
    .addColumn('next_attempt_at', 'timestamptz', (col) => col.notNull())
    // when the current series of attempts began (creation, or `tessera webhooks retry`): it gives up 24 h later
    .addColumn('attempts_since', 'timestamptz', (col) => col.notNull())
    // the last failure in a few words (a status or a network error code), never a body or a secret
    .addColumn('last_error', 'text')
    .addColumn('delivered_at', 'timestamptz')
    // when it gave up: listed by `tessera webhooks failed` until retried
    .addColumn('failed_at', 'timestamptz')
    .execute()
  // the delivery loop's scan: only pending rows are indexed, so delivered history costs it nothing
  await db.schema
    .createIndex('webhook_outbox_due_idx')
    .on('webhook_outbox')
    .column('next_attempt_at')
    .where(sql.ref('delivered_at'), 'is', null)
    .where(sql.ref('failed_at'), 'is', null)
    .execute()
  await db.schema
    .createIndex('webhook_outbox_delivered_idx')
    .on('webhook_outbox')
    .column('delivered_at')
    .where(sql.ref('delivered_at'), 'is not', null)
    .execute()
  await db.schema
    .createIndex('webhook_outbox_failed_idx')
    .on('webhook_outbox')
    .column('failed_at')
    .where(sql.ref('failed_at'), 'is not', null)
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webhook_outbox').ifExists().execute()
}
