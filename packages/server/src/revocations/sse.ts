import { epochSeconds } from '../clock.js'
import type { RevocationEventRecord } from '../store/records.js'

/*
 * The revocation feed's wire format (API.md, "Revocation feed"): Server-Sent Events whose `id` is
 * the event's id in the database sequence, and whose data is one line of JSON with times in
 * seconds since the epoch.
 */

/** Seconds, rounded up: `until` must not fall before the last token it covers expires. */
const untilSeconds = (date: Date): number => Math.ceil(date.getTime() / 1000)

/** One event as an SSE message. */
export function eventMessage(event: RevocationEventRecord): string {
  const data =
    event.kind === 'session'
      ? { sid: event.sid, sub: event.sub, until: untilSeconds(event.expiresAt) }
      : { sub: event.sub, notBefore: epochSeconds(event.notBefore), until: untilSeconds(event.expiresAt) }
  return `id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(data)}\n\n`
}

/**
 * The subscriber missed events the server no longer keeps: it refuses every token issued before
 * `notBefore`. Carries `id` so that the next resume starts after what the server had then.
 */
export const resetMessage = (lastId: bigint, notBefore: Date): string =>
  `id: ${lastId}\nevent: reset\ndata: ${JSON.stringify({ notBefore: epochSeconds(notBefore) })}\n\n`

/** Keeps proxies from closing an idle stream, and lets the subscriber tell a dead one. */
export const PING = ': ping\n\n'

/** How long a subscriber waits before reconnecting, in milliseconds (the SSE `retry` field). */
export const retryMessage = (ms: number): string => `retry: ${ms}\n\n`

/** A Last-Event-ID this server could have sent: a decimal id of the bigint sequence. */
export function parseLastEventId(header: string | string[] | undefined): bigint | 'absent' | 'malformed' {
  if (header === undefined) return 'absent'
  if (typeof header !== 'string' || !/^\d{1,19}$/.test(header.trim())) return 'malformed'
  return BigInt(header.trim())
}
