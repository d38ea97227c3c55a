import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JSONWebKeySet } from 'jose'

/** The revocation events of Tessera's API.md ("Services and revocation"). */
export type FeedEvent =
  | { event: 'session'; data: { sid: string; sub: string; until: number } }
  | { event: 'user'; data: { sub: string; notBefore: number; until: number } }

/** How the stand-in answers the next feed requests. */
export type FeedAnswer =
  | { kind: 'stream' }
  /** Headers only, then not a byte: a half-open connection as a dead proxy leaves it. */
  | { kind: 'silent' }
  | { kind: 'status'; status: number }

export interface FeedServer {
  /** The issuer: `http://127.0.0.1:<port>`; the feed is at `${url}/auth/revocations`. */
  url: string
  /** The headers of every request to a feed path, in order. */
  requests: IncomingHttpHeaders[]
  /** Streams open now. */
  openStreams(): number
  /** Keeps an event and sends it to every open stream; returns its id. */
  publish(event: FeedEvent): string
  /** Forgets the events up to `id` (kept too short): an older Last-Event-ID gets a `reset`. */
  forgetUpTo(id: number, resetNotBefore: number): void
  /** Sends `: ping` on every open stream. */
  ping(): void
  /** Ends every open stream from the server's side. */
  dropStreams(): void
  answer(next: FeedAnswer): void
  close(): Promise<void>
}

export interface FeedServerOptions {
  clientId: string
  clientSecret: string
  /** A `retry:` field (milliseconds) at the start of each stream. */
  retryMs?: number
  /** Serve discovery and this JWKS, with the feed at `feedPath`. */
  jwks?: JSONWebKeySet
  /** Where the feed is; `tessera_revocation_events_endpoint` names it. Default `/auth/revocations`. */
  feedPath?: string
}

const format = (id: number, event: string, data: unknown): string =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`

/**
 * A node:http stand-in for Tessera's revocation feed that speaks it exactly as API.md says: HTTP
 * Basic `urlencode(id):urlencode(secret)`, `text/event-stream`, ids from one sequence, catch-up
 * after `Last-Event-ID` (every kept event without one), a `reset` when the id is older than what
 * is kept, `: ping` comments on demand.
 */
export async function startFeedServer(options: FeedServerOptions): Promise<FeedServer> {
  const feedPath = options.feedPath ?? '/auth/revocations'
  const expected = `Basic ${btoa(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`)}`
  const kept: Array<{ id: number; text: string }> = []
  const streams = new Set<ServerResponse>()
  const requests: IncomingHttpHeaders[] = []
  let lastId = 0
  let forgotten = { upTo: 0, resetNotBefore: 0 }
  let answer: FeedAnswer = { kind: 'stream' }
  let url = ''

  const server = createServer((req, res) => {
    if (options.jwks && req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          issuer: url,
          jwks_uri: `${url}/jwks.json`,
          tessera_revocation_events_endpoint: `${url}${feedPath}`,
        }),
      )
      return
    }
    if (options.jwks && req.url === '/jwks.json') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(options.jwks))
      return
    }
    if (req.url !== feedPath) {
      res.statusCode = 404
      res.end()
      return
    }
    requests.push(req.headers)
    if (answer.kind === 'status') {
      res.writeHead(answer.status, { 'content-type': 'application/problem+json' }).end('{}')
      return
    }
    if (req.headers.authorization !== expected) {
      res
        .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="tessera"' })
        .end('{"error":"invalid_client"}')
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    res.flushHeaders()
    streams.add(res)
    res.on('close', () => streams.delete(res))
    if (answer.kind === 'silent') return

    let out = options.retryMs === undefined ? '' : `retry: ${options.retryMs}\n\n`
    const header = req.headers['last-event-id']
    const after = typeof header === 'string' ? Number(header) : 0
    if (typeof header === 'string' && after < forgotten.upTo) {
      out += format(forgotten.upTo, 'reset', { notBefore: forgotten.resetNotBefore })
    }
    for (const event of kept) if (event.id > after) out += event.text
    if (out !== '') res.write(out)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    requests,
    openStreams: () => streams.size,
    publish({ event, data }) {
      lastId += 1
      const text = format(lastId, event, data)
      kept.push({ id: lastId, text })
      for (const stream of streams) stream.write(text)
      return String(lastId)
    },
    forgetUpTo(id, resetNotBefore) {
      forgotten = { upTo: id, resetNotBefore }
      while (kept[0] !== undefined && kept[0].id <= id) kept.shift()
    },
    ping() {
      for (const stream of streams) stream.write(': ping\n\n')
    },
    dropStreams() {
      for (const stream of streams) stream.end()
      streams.clear()
    },
    answer(next) {
      answer = next
    },
    async close() {
      for (const stream of streams) stream.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Polls `condition` every 10 ms until it holds, failing after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
