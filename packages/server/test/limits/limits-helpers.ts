import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { type Logger, pino } from 'pino'
import type { Mail } from '../../src/mail/mail.js'
import { PASSWORD, uniqueEmail } from '../helpers/server.js'

/** Limits on, at their defaults unless a test says otherwise. */
export const LIMITS_ON = { TESSERA_RATE_LIMIT: 'on' } as const

/** Redis keys of this run: parallel runs on one Redis never count into each other. */
export const runRedisPrefix = (): string => `tessera-test:${process.pid}-${randomBytes(4).toString('hex')}:`

let ips = 0
/** A client address no other request of this test file uses. */
export function nextIp(): string {
  const n = ++ips
  return `198.51.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`
}

export const RATE_LIMIT_HEADERS = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'] as const

export const loginFrom = (
  app: FastifyInstance,
  ip: string,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> =>
  app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password, tokenDelivery: 'body' },
    remoteAddress: ip,
    headers,
  })

/** Registers an account from an address of its own, so register limits stay out of the way. */
export async function registerFrom(app: FastifyInstance, email = uniqueEmail('limits')): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email, password: PASSWORD, tokenDelivery: 'body' },
    remoteAddress: nextIp(),
  })
  if (response.statusCode !== 201) throw new Error(`register failed: ${response.statusCode} ${response.body}`)
  return email
}

/** The `token` of the last mail of `kind` to `to`. */
export function mailedToken(mailer: { sent: Mail[] }, to: string, kind: Mail['kind']): string {
  const mail = mailer.sent.filter((entry) => entry.to === to && entry.kind === kind).at(-1)
  const token = mail && /[?&]token=([^\s&"]+)/.exec(mail.text)?.[1]
  if (!token) throw new Error(`no ${kind} mail with a token to ${to}`)
  return decodeURIComponent(token)
}

/** A pino logger whose lines a test can read. */
export function memoryLogger(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines: () => lines }
}
