import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../../flows/deps.js'
import { verifyClientSecret } from '../../flows/service-clients.js'
import type { RevocationFeed } from '../../revocations/feed.js'
import { eventMessage, PING, parseLastEventId, resetMessage, retryMessage } from '../../revocations/sse.js'
import type { RevocationEventRecord } from '../../store/records.js'
import { parseBasicAuthorization } from '../client-auth.js'

export interface RevocationRouteDeps extends Pick<FlowDeps, 'stores' | 'clock'> {
  revocationFeed: RevocationFeed
  /** Headers every answer carries (the hijacked stream bypasses the onSend hooks that add them). */
  securityHeaders: Readonly<Record<string, string>>
  /** Milliseconds between `: ping` comments; API.md asks for at least one every 15 s. */
  heartbeatMs?: number
}

export const FEED_SCOPE = 'revocations:read'
const HEARTBEAT_MS = 15_000
/** What a subscriber waits before reconnecting after the stream ends. */
const RETRY_MS = 2000
/** A subscriber that reads slower than events come is cut off past this backlog; it resumes by id. */
const MAX_BACKLOG_BYTES = 1024 * 1024
/** Kept events read per query while catching up. */
const CATCH_UP_PAGE = 1000

const BASIC_CHALLENGE = 'Basic realm="tessera"'

/** The feed accepts HTTP Basic only (API.md): a service client with `revocations:read`. */
async function authenticateSubscriber(
  deps: RevocationRouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const credentials = parseBasicAuthorization(request.headers.authorization)
  const client =
    credentials && credentials !== 'malformed'
      ? await verifyClientSecret(deps.stores, credentials.clientId, credentials.clientSecret)
      : undefined
  if (!client) {
    reply.header('www-authenticate', BASIC_CHALLENGE)
    throw new TesseraError('INVALID_CREDENTIALS', {
      detail: 'Authenticate with a service client id and secret (HTTP Basic).',
    })
  }
  if (!client.scopes.includes(FEED_SCOPE)) {
    throw new TesseraError('FORBIDDEN', { detail: `The client lacks the ${FEED_SCOPE} scope.` })
  }
}

/** GET /auth/revocations: the revocation events as Server-Sent Events (API.md, "Revocation feed"). */
export const revocationRoutes =
  (deps: RevocationRouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const streams = new Set<() => void>()
    // a stream never ends on its own: shutdown ends them, so the server can drain
    app.addHook('preClose', async () => {
      for (const end of streams) end()
    })

    app.get(
      '/auth/revocations',
      {
        schema: {
          tags: ['services'],
          summary: 'Revocation events (Server-Sent Events) for services that verify tokens offline',
          description:
            'HTTP Basic with a service client that has the revocations:read scope. Resume with Last-Event-ID.',
          produces: ['text/event-stream'],
          security: [{ basic: [] }],
        },
      },
      async (request, reply) => {
        await authenticateSubscriber(deps, request, reply)
        const subscription = await deps.revocationFeed.subscribe()
        let catchUp: string[]
        let after: bigint
        try {
          ;({ catchUp, after } = await startingPoint(deps, request.headers['last-event-id']))
        } catch (error) {
          subscription.close()
          throw error
        }

        // everything that could fail as an HTTP answer is done: from here on it is a stream
        reply.hijack()
        const res = reply.raw
        res.writeHead(200, {
          ...deps.securityHeaders,
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          // nginx would hold the stream in its buffer
          'x-accel-buffering': 'no',
        })
        let ended = false
        const end = () => {
          if (ended) return
          ended = true
          clearInterval(heartbeat)
          subscription.close()
          streams.delete(end)
          // the connection goes with the stream: kept alive, it would hold a closing server open
          res.end(() => res.socket?.destroy())
        }
        const write = (text: string) => {
          if (ended) return
          res.write(text)
          if (res.writableLength > MAX_BACKLOG_BYTES) {
            request.log.warn('revocation feed: subscriber too slow; closing its stream (it resumes by id)')
            end()
            res.destroy()
          }
        }
        streams.add(end)
        res.on('close', end)
        const heartbeat = setInterval(() => write(PING), deps.heartbeatMs ?? HEARTBEAT_MS)
        heartbeat.unref()

        write(retryMessage(RETRY_MS))
        for (const message of catchUp) write(message)
        subscription.start(after, (event: RevocationEventRecord) => write(eventMessage(event)))
        return reply
      },
    )
  }

/**
 * Where a subscriber starts: with no Last-Event-ID, every kept event still in force; with one the
 * server can continue from, the events after it; with one below what was pruned (or one this
 * database never handed out), a `reset` and then every event in force.
 */
async function startingPoint(
  deps: RevocationRouteDeps,
  header: string | string[] | undefined,
): Promise<{ catchUp: string[]; after: bigint }> {
  const store = deps.stores.revocationEvents
  const lastEventId = parseLastEventId(header)
  const last = await store.lastId()
  if (typeof lastEventId === 'bigint') {
    const pruned = await store.prunedThrough()
    if (lastEventId >= pruned && lastEventId <= last) {
      const catchUp: string[] = []
      let after = lastEventId
      for (;;) {
        const events = await store.listAfter(after, CATCH_UP_PAGE)
        for (const event of events) catchUp.push(eventMessage(event))
        after = events.at(-1)?.id ?? after
        if (events.length < CATCH_UP_PAGE) break
      }
      // events appended since `last` was read come from the feed, above it
      if (last > after) after = last
      return { catchUp, after }
    }
  }
  const now = deps.clock.now()
  const inForce = await store.listInForce(now, last)
  const catchUp = inForce.map(eventMessage)
  // `absent` is a first subscription; anything else is a gap the subscriber must be told of
  if (lastEventId !== 'absent') catchUp.push(resetMessage(last, now))
  return { catchUp, after: last }
}
