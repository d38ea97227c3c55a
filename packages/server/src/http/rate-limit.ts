import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config, RateLimit } from '../config.js'
import { normalizeEmail } from '../email-address.js'
import { TesseraError } from '../errors.js'
import type { Counter, CounterState } from '../limits/counter.js'
import { emailKey, ipKey } from '../limits/keys.js'
import type { Limits } from '../limits/limits.js'

/** One limit on a route. */
export interface RouteLimit {
  /** Names the counter, unique per route and key: `login:ip`, `forgot-password:email`. */
  name: string
  rule: RateLimit
  /** What is counted: the client address, the email in the body, the user. */
  key: (request: FastifyRequest) => string
  /**
   * Count only answers with this status (401 for failed logins). The hit is still taken before the
   * handler runs, so parallel requests cannot all slip under the limit while they are served, and
   * given back when the answer turns out to be another.
   */
  onlyStatus?: number
}

/** Route hooks that enforce the limits; none at all with TESSERA_RATE_LIMIT=off. */
export interface RateLimitHooks {
  preHandler?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  onSend?: (request: FastifyRequest, reply: FastifyReply, payload: unknown) => Promise<unknown>
}

interface Held {
  counter: Counter
  key: string
  onlyStatus: number
}

/**
 * The limits of one route, spread into its options: `{ schema, ...rateLimited(limits, [...]) }`.
 * They run as a preHandler, after the body is validated and the caller authenticated, and before
 * the handler, so a refused request costs no password hashing. Every answer of the route carries
 * the IETF `RateLimit-*` headers of its tightest limit; a refusal is 429 RATE_LIMITED with
 * `Retry-After`.
 */
export function rateLimited(limits: Limits, routeLimits: readonly RouteLimit[]): RateLimitHooks {
  const make = limits.counter
  if (!make || routeLimits.length === 0) return {}
  const counted = routeLimits.map((limit) => ({ ...limit, counter: make(limit.name, limit.rule) }))
  const held = new WeakMap<FastifyRequest, Held[]>()

  return {
    async preHandler(request, reply) {
      let tightest: CounterState | undefined
      for (const limit of counted) {
        const key = limit.key(request)
        const state = await limit.counter.hit(key)
        if (!state.allowed) {
          setRateLimitHeaders(reply, state)
          throw new TesseraError('RATE_LIMITED', { retryAfter: seconds(state.resetMs) })
        }
        if (limit.onlyStatus !== undefined) {
          const list = held.get(request) ?? []
          list.push({ counter: limit.counter, key, onlyStatus: limit.onlyStatus })
          held.set(request, list)
        }
        if (!tightest || isTighter(state, tightest)) tightest = state
      }
      if (tightest) setRateLimitHeaders(reply, tightest)
    },
    async onSend(request, reply, payload) {
      const list = held.get(request)
      if (!list) return payload
      held.delete(request)
      for (const { counter, key, onlyStatus } of list) {
        if (reply.statusCode === onlyStatus) continue
        // before the answer leaves, so the client's next request already sees the count
        await counter.refund(key).catch((error: unknown) => {
          // the answer is made; a hit that stays counted only errs on the strict side
          request.log.warn({ err: error }, 'giving back a rate-limit hit failed')
        })
      }
      return payload
    },
  }
}

const isTighter = (a: CounterState, b: CounterState): boolean =>
  a.remaining < b.remaining || (a.remaining === b.remaining && a.resetMs > b.resetMs)

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000))

function setRateLimitHeaders(reply: FastifyReply, state: CounterState): void {
  reply
    .header('ratelimit-limit', String(state.limit))
    .header('ratelimit-remaining', String(state.remaining))
    .header('ratelimit-reset', String(seconds(state.resetMs)))
}

/** Counts per client address (`request.ip`, which honours TESSERA_TRUST_PROXY only). */
export const byIp = (request: FastifyRequest): string => ipKey(request.ip)

/** Counts per normalised email of the body, whether or not an account has it. */
export function byBodyEmail(request: FastifyRequest): string {
  const body: unknown = request.body
  if (typeof body !== 'object' || body === null || !('email' in body) || typeof body.email !== 'string') {
    // the route's schema requires the field; without it this limit is on the wrong route
    throw new TesseraError('INTERNAL', { reason: 'byBodyEmail on a route without an email in its body' })
  }
  return emailKey(normalizeEmail(body.email).normalized)
}

/**
 * The limit of a route for a signed-in user (`TESSERA_LIMIT_PASSWORD_CHANGE`), counted per user:
 * a stolen token cannot guess codes at speed, and users behind one address do not share a budget.
 */
export const perUser =
  (rules: Config['limits'], userOf: (request: FastifyRequest) => { user: { id: string } }) =>
  (name: string): RouteLimit[] => [
    { name: `${name}:user`, rule: rules.passwordChange, key: (request) => userOf(request).user.id },
  ]
