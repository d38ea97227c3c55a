import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { ROLE_PATTERN } from '../roles.js'
import { ConfigError } from './config-error.js'
import type { DatabaseTarget, RateLimit } from './types.js'

/** What a parser may need besides the text: where relative paths start. */
export interface ParseContext {
  readonly cwd: string
}

/**
 * Reads one variable's text, already trimmed and never empty (an empty variable is unset), and
 * throws a {@link ConfigError} naming `variable` when the text is not what it expects.
 */
export type Parser<T> = (variable: string, raw: string, context: ParseContext) => T

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** Parses `900`, `15m`, `7d` into seconds. */
export function parseDuration(variable: string, raw: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(raw.trim())
  if (!match) throw new ConfigError(variable, `expected a duration such as 900, 15m, 12h or 7d, got "${raw}"`)
  const seconds = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1)
  if (!Number.isSafeInteger(seconds)) throw new ConfigError(variable, `duration "${raw}" is too large`)
  return seconds
}

export interface DurationBounds {
  /** Fewest seconds allowed; 1 unless said. */
  readonly min?: number
  readonly max?: number
  /** What is said over `max`, with the reason for the bound. */
  readonly tooLong?: string
}

/** A duration in seconds (see {@link parseDuration}) within bounds. */
export const duration =
  ({ min = 1, max, tooLong }: DurationBounds = {}): Parser<number> =>
  (variable, raw) => {
    const seconds = parseDuration(variable, raw)
    if (seconds < min) throw new ConfigError(variable, `must be at least ${min} seconds`)
    if (max !== undefined && seconds > max) {
      throw new ConfigError(variable, tooLong ?? `must be at most ${max} seconds`)
    }
    return seconds
  }

/** `off`, or what `parser` reads. */
export const offOr =
  <T>(parser: Parser<T>): Parser<T | null> =>
  (variable, raw, context) =>
    raw === 'off' ? null : parser(variable, raw, context)

/** A whole number from `min` to `max`. */
export const integer =
  (min: number, max: number): Parser<number> =>
  (variable, raw) => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new ConfigError(variable, `expected a whole number from ${min} to ${max}, got "${raw}"`)
    }
    return Number(raw)
  }

/** A switch: `yes` or `no` (any case), and also true/false, 1/0, on/off. */
export const flag =
  (yes: 'on' | 'true', no: 'off' | 'false'): Parser<boolean> =>
  (variable, raw) => {
    const value = raw.toLowerCase()
    if (value === yes || value === 'true' || value === '1' || value === 'on') return true
    if (value === no || value === 'false' || value === '0' || value === 'off') return false
    throw new ConfigError(variable, `expected ${yes} or ${no}, got "${value}"`)
  }

/** Any text, as it is. */
export const text: Parser<string> = (_variable, raw) => raw

/** One of `values`, spelt exactly. */
export const oneOf =
  <const T extends string>(values: readonly T[]): Parser<T> =>
  (variable, raw) => {
    const found = values.find((value) => value === raw)
    if (found === undefined)
      throw new ConfigError(variable, `expected one of ${values.join(', ')}, got "${raw}"`)
    return found
  }

/** A path, resolved against the working directory. */
export const path: Parser<string> = (_variable, raw, { cwd }) => resolve(cwd, raw)

function httpUrl(variable: string, raw: string): URL {
  try {
    const parsed = new URL(raw)
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return parsed
  } catch {
    // said below, as for any other scheme
  }
  throw new ConfigError(variable, `expected an http(s) URL, got "${raw}"`)
}

/** An http(s) URL, normalised (`href`). */
export const url: Parser<string> = (variable, raw) => httpUrl(variable, raw).href

/** The public URL: http(s), no query or fragment, without a trailing slash (it may have a path). */
export const publicUrl: Parser<string> = (variable, raw) => {
  const parsed = httpUrl(variable, raw)
  if (parsed.search || parsed.hash) throw new ConfigError(variable, 'must not have a query or fragment')
  return parsed.href.replace(/\/+$/, '')
}

/** Comma-separated items; blanks between commas are dropped. */
const items = (raw: string): string[] =>
  raw
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '')

/** Comma-separated origins (`scheme://host[:port]`, no path). */
export const origins: Parser<readonly string[]> = (variable, raw) =>
  items(raw).map((value) => {
    const parsed = httpUrl(variable, value)
    if (parsed.origin !== value.replace(/\/$/, '')) {
      throw new ConfigError(variable, `"${value}" is not an origin (scheme://host[:port], no path)`)
    }
    return parsed.origin
  })

/** Comma-separated role names. */
export const roles: Parser<readonly string[]> = (variable, raw) => {
  const names = [...new Set(items(raw))]
  const bad = names.find((name) => !ROLE_PATTERN.test(name))
  if (bad !== undefined) {
    throw new ConfigError(variable, `"${bad}" is not a role name (letters, digits, _ . : -; a letter first)`)
  }
  return names
}

/** One role name. */
export const role: Parser<string> = (variable, raw) => {
  const name = raw.trim()
  if (!ROLE_PATTERN.test(name)) {
    throw new ConfigError(variable, `"${name}" is not a role name (letters, digits, _ . : -; a letter first)`)
  }
  return name
}

/**
 * A WebAuthn relying-party id: a domain name (`example.com`, `localhost`), lower case, no scheme,
 * port or path. An IP address is refused: browsers accept no IP as an RP id.
 */
export const rpId: Parser<string> = (variable, raw) => {
  const value = raw.toLowerCase()
  const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
  if (value.length > 253 || !new RegExp(`^${label}(?:\\.${label})*$`).test(value) || isIP(value) !== 0) {
    throw new ConfigError(
      variable,
      `"${raw}" is not a domain name (e.g. example.com, without scheme or port)`,
    )
  }
  if (/^[0-9.]+$/.test(value)) throw new ConfigError(variable, `"${raw}" is an IP address, not a domain name`)
  return value
}

/** Comma-separated IP addresses or CIDRs. */
export const addresses: Parser<readonly string[]> = (variable, raw) => {
  const entries = items(raw)
  for (const entry of entries) {
    const [address, bits] = entry.split('/')
    if (!address || isIP(address) === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
      throw new ConfigError(variable, `"${entry}" is not an IP address or CIDR`)
    }
  }
  return entries
}

/** The database a set DATABASE_URL names; unset, the table's default (PGlite in the data dir) applies. */
export const databaseUrl: Parser<DatabaseTarget> = (variable, raw) => {
  if (raw === 'memory://') return { kind: 'pglite-memory' }
  if (/^postgres(ql)?:\/\//.test(raw)) return { kind: 'postgres', url: raw }
  throw new ConfigError(variable, 'expected postgres://…, memory:// or unset (embedded database)')
}

export const redisUrl: Parser<string> = (variable, raw) => {
  if (!/^rediss?:\/\//.test(raw))
    throw new ConfigError(variable, `expected redis://… or rediss://…, got "${raw}"`)
  return raw
}

export const redisPrefix: Parser<string> = (variable, raw) => {
  if (!/^[\w:.-]{1,64}$/.test(raw))
    throw new ConfigError(variable, 'expected up to 64 letters, digits, or _ : . -')
  return raw
}

export const smtpUrl: Parser<string> = (variable, raw) => {
  let parsed: URL | undefined
  try {
    parsed = new URL(raw)
  } catch {
    parsed = undefined
  }
  // the message never repeats the URL: it may hold the SMTP password
  if (!parsed || (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') || !parsed.hostname) {
    throw new ConfigError(variable, 'expected smtp://[user:pass@]host[:port] or smtps://…')
  }
  return raw
}

/** A token a Prometheus can send as `Bearer <token>`: otherwise every scrape would be refused. */
export const bearerToken: Parser<string> = (variable, raw) => {
  // the messages never repeat the token
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(raw)) {
    throw new ConfigError(variable, 'may hold only letters, digits and - . _ ~ + / (then = padding)')
  }
  if (raw.length < 16)
    throw new ConfigError(variable, 'must be at least 16 characters, e.g. `openssl rand -hex 32`')
  return raw
}

/** Random data of at least 32 characters; never repeated in a message. */
export const secret: Parser<string> = (variable, raw) => {
  const weakness = secretWeakness(raw)
  if (weakness !== undefined) throw new ConfigError(variable, weakness)
  return raw
}

/** Why `value` is no secret, or `undefined` when it looks like random data of 32 characters or more. */
export function secretWeakness(value: string): string | undefined {
  if (value.length < 32)
    return 'must be at least 32 characters of random data, e.g. `openssl rand -base64 48`'
  // a long run of one character or a short repeated phrase is not random data
  if (new Set(value).size < 10)
    return 'looks like a placeholder, not random data; use e.g. `openssl rand -base64 48`'
  return undefined
}

/** `<count>/<duration>`, e.g. `5/1m`: at most count requests in a window of that duration. */
export const rate: Parser<RateLimit> = (variable, raw) => {
  const match = /^(\d+)\s*\/\s*(\S+)$/.exec(raw)
  const points = Number(match?.[1])
  if (!match?.[2] || !Number.isSafeInteger(points) || points < 1) {
    throw new ConfigError(variable, `expected <count>/<duration> such as 5/1m or 10/1h, got "${raw}"`)
  }
  const seconds = parseDuration(variable, match[2])
  if (seconds < 1) throw new ConfigError(variable, 'the duration must be at least 1 second')
  return { points, duration: seconds }
}

/** Node's `UV_THREADPOOL_SIZE` as Node reads it: anything but a positive number is its default, 4. */
export const threadPoolSize: Parser<number> = (_variable, raw) => Number(raw) || 4

/** More would only add processes contending for the same cores and PostgreSQL connections. */
export const MAX_WORKERS = 256

/**
 * `TESSERA_WORKERS` and `serve --workers` (named by `variable`): a whole number from 1, or `auto`
 * for one per CPU the process may use (`os.availableParallelism()`, given as `cpus` in tests).
 */
export function parseWorkers(
  variable: string,
  raw: string,
  cpus: () => number = availableParallelism,
): number {
  const value = raw.trim().toLowerCase()
  if (value === 'auto') return Math.min(Math.max(cpus(), 1), MAX_WORKERS)
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_WORKERS) {
    throw new ConfigError(
      variable,
      `expected a whole number from 1 to ${MAX_WORKERS}, or auto (one per CPU), got "${raw}"`,
    )
  }
  return Number(value)
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]'
}

/** The fewest bytes of a webhook signing key (Standard Webhooks: 24 to 64). */
export const WEBHOOK_KEY_MIN_BYTES = 24

/** A Standard Webhooks secret: `whsec_` and the base64 of at least 24 random bytes; never repeated in a message. */
export const webhookSecret: Parser<string> = (variable, raw) => {
  const encoded = raw.startsWith('whsec_') ? raw.slice('whsec_'.length) : undefined
  if (encoded === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    throw new ConfigError(
      variable,
      'expected whsec_ and base64 of random bytes, e.g. `echo whsec_$(openssl rand -base64 32)`',
    )
  }
  if (Buffer.from(encoded, 'base64').length < WEBHOOK_KEY_MIN_BYTES) {
    throw new ConfigError(
      variable,
      `must hold at least ${WEBHOOK_KEY_MIN_BYTES} bytes after whsec_, e.g. \`echo whsec_$(openssl rand -base64 32)\``,
    )
  }
  return raw
}
