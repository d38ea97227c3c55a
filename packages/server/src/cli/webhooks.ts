import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import { createWebhookStore, type OutboxEvent } from '../store/webhooks.js'
import { type CliIo, usage } from './io.js'
import { withStores } from './with-stores.js'

const WEBHOOKS_USAGE =
  'Usage: tessera webhooks failed [--json] | tessera webhooks retry --id ID [--id ID]... | tessera webhooks retry --all\n'

/** Events listed at most by `failed`: enough for an operator, bounded for a large backlog. */
const LIST_LIMIT = 1000

/** `tessera webhooks failed | retry`: the events that gave up after 24 hours, and sending them again. */
export async function webhooks(config: Config, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'failed') return failed(config, rest, io)
  if (sub === 'retry') return retry(config, rest, io)
  return usage(io, WEBHOOKS_USAGE)
}

const view = (event: OutboxEvent) => ({
  id: event.id,
  type: event.type,
  attempts: event.attempts,
  lastError: event.lastError,
  createdAt: event.createdAt.toISOString(),
  failedAt: event.failedAt?.toISOString() ?? null,
})

async function failed(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true })
  return withStores(config, 'webhooks failed', async (_stores, _results, db) => {
    const events = await createWebhookStore(db, undefined).listFailed(LIST_LIMIT)
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ events: events.map(view) })}\n`)
      return
    }
    if (events.length === 0) io.stdout.write('No webhook event has given up.\n')
    for (const event of events) {
      io.stdout.write(
        `${event.id}  ${event.type}  attempts ${event.attempts}  last error: ${event.lastError ?? '-'}  ` +
          `created ${event.createdAt.toISOString()}\n`,
      )
    }
    if (events.length === LIST_LIMIT) io.stdout.write(`(the first ${LIST_LIMIT} only)\n`)
  })
}

async function retry(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { id: { type: 'string', multiple: true }, all: { type: 'boolean' } },
    strict: true,
  })
  const ids = values.id ?? []
  if ((ids.length === 0) === !values.all) {
    return usage(io, `Give --id (one or more) or --all, not both.\n${WEBHOOKS_USAGE}`)
  }
  let requeued = 0
  const code = await withStores(config, 'webhooks retry', async (_stores, _results, db) => {
    requeued = await createWebhookStore(db, undefined).requeueFailed(
      values.all ? 'all' : ids,
      systemClock.now(),
    )
    io.stdout.write(
      `Queued ${requeued} event(s) again: a server with TESSERA_WEBHOOK_URL sends them now, retrying for 24 hours.\n`,
    )
  })
  // an id that is not a given-up event (unknown, or already delivered or pending) is said so
  if (code === 0 && !values.all && requeued < ids.length) {
    io.stderr.write(`tessera: ${ids.length - requeued} of the ids named no given-up event.\n`)
    return 1
  }
  return code
}
