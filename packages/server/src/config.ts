import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'

export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA', 'HS256'] as const
export type SigningAlg = (typeof SIGNING_ALGS)[number]

export type DatabaseTarget =
  | { kind: 'postgres'; url: string }
  | { kind: 'pglite-dir'; dir: string }
  | { kind: 'pglite-memory' }

/** The server's whole configuration, parsed once from the environment and frozen. Durations are seconds. */
export interface Config {
  readonly production: boolean
  readonly port: number
  readonly host: string
  /** The issuer, without a trailing slash, e.g. `https://auth.example.com/api`. */
  readonly publicUrl: string
  readonly dataDir: string
  readonly database: DatabaseTarget
  /**
   * `TESSERA_DB_TIMEOUT`: seconds any one wait on PostgreSQL may take while serving (a connection,
   * a statement); past it the request answers 503 SERVICE_UNAVAILABLE instead of hanging.
   */
  readonly databaseTimeout: number
  /** `TESSERA_DB_POOL_SIZE`: PostgreSQL connections one server process keeps open at most. */
  readonly databasePoolSize: number
  /**
   * `TESSERA_DB_PREPARED_STATEMENTS`: prepare the hot statements (the refresh rotation) once per
   * PostgreSQL connection. Off behind a pooler that hands one client several server connections
   * and does not track prepared statements (PgBouncer in transaction mode before 1.21).
   */
  readonly databasePreparedStatements: boolean
  readonly redisUrl: string | undefined
  /** `TESSERA_SECRET`; when unset outside production, main.ts generates one into the data dir. */
  readonly secret: string | undefined
  /** `TESSERA_SECRET_PREVIOUS`: still opens private keys sealed before a secret rotation. */
  readonly secretPrevious: string | undefined
  readonly audience: string
  readonly accessTokenTtl: number
  readonly refreshIdleTtl: number
  readonly sessionMaxAge: number
  readonly refreshReuseGrace: number
  readonly signingAlg: SigningAlg
  readonly hs256Secret: string | undefined
  /** Seconds between automatic rotations, or `null` for rotation by hand only. */
  readonly keyRotation: number | null
  /** How often a running server re-reads the key ring, so a rotation elsewhere takes effect. */
  readonly keyRefreshInterval: number
  /** How long a rotated-in key is published in the JWKS before it signs. */
  readonly keyPublishLead: number
  readonly passwordMinLength: number
  readonly passwordMaxLength: number
  /** Least zxcvbn score (0–4) a new password needs; 0 turns the estimator off. */
  readonly passwordMinScore: number
  readonly requireEmailVerification: boolean
  readonly resetUrl: string
  readonly verifyUrl: string
  readonly resetTokenTtl: number
  readonly verifyTokenTtl: number
  readonly trustProxy: readonly string[]
  readonly metricsToken: string | undefined
  /** Seconds an audit event is kept (`TESSERA_AUDIT_RETENTION`); housekeeping deletes older ones. */
  readonly auditRetention: number
  readonly allowedOrigins: readonly string[]
  readonly rateLimit: boolean
  /** Request limits per route (`TESSERA_LIMIT_*`); ignored with `rateLimit` off. */
  readonly limits: RateLimits
  /** Account lockout after failed logins (`TESSERA_LOCKOUT_*`); ignored with `rateLimit` off. */
  readonly lockout: LockoutConfig
  /** Prefix of every Redis key the server writes (`TESSERA_REDIS_PREFIX`). */
  readonly redisPrefix: string
  readonly smtpUrl: string | undefined
  readonly mailFrom: string
  /** Run pending migrations when the server starts. */
  readonly migrateOnStart: boolean
  /** Body limit for auth routes, in bytes. */
  readonly bodyLimit: number
  /**
   * `TESSERA_REQUEST_TIMEOUT`: seconds a whole request (headers and body) may take to arrive;
   * a client that trickles its body is answered 408 and cut off, rather than holding a connection.
   */
  readonly requestTimeout: number
  /** `TESSERA_HEADERS_TIMEOUT`: seconds the request headers may take to arrive (at most the request timeout). */
  readonly headersTimeout: number
  /**
   * Password hashing at once and in line (`TESSERA_HASH_CONCURRENCY`, `TESSERA_HASH_QUEUE`,
   * `TESSERA_HASH_QUEUE_TIMEOUT`); past the line or the wait, 503 SERVICE_UNAVAILABLE.
   */
  readonly hashing: HashingConfig
  readonly logLevel: string
  /** Periodic deletion of dead sessions and spent one-time tokens (`TESSERA_HOUSEKEEPING`). */
  readonly housekeeping: boolean
  readonly housekeepingInterval: number
  /** How long a dead session or spent one-time token is kept before housekeeping deletes it. */
  readonly housekeepingGrace: number
  /**
   * `TESSERA_WORKERS`: server processes `tessera serve` runs on the one port (`serve --workers`
   * overrides it); 1 is a single process. More than one needs PostgreSQL.
   */
  readonly workers: number
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`)
    this.name = 'ConfigError'
  }
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** Parses `900`, `15m`, `7d` into seconds. */
export function parseDuration(variable: string, raw: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(raw.trim())
  if (!match) throw new ConfigError(variable, `expected a duration such as 900, 15m, 12h or 7d, got "${raw}"`)
  const seconds = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1)
  if (!Number.isSafeInteger(seconds)) throw new ConfigError(variable, `duration "${raw}" is too large`)
  return seconds
}

export interface HashingConfig {
  readonly concurrency: number
  readonly maxQueue: number
  /** Seconds one may wait in line. */
  readonly maxWait: number
}

/**
 * As many hashes at once as there are cores, and one libuv thread kept free of argon2 for the
 * signatures and file work that share the pool (UV_THREADPOOL_SIZE, default 4).
 */
export function defaultHashConcurrency(env: Env, processes = 1): number {
  const pool = Number(env.UV_THREADPOOL_SIZE) || 4
  // each process has a thread pool of its own; the cores are shared by all of them
  return Math.max(1, Math.min(Math.floor(availableParallelism() / processes), pool - 1))
}

/** At most `points` requests per `duration` seconds, a fixed window from the first of them. */
export interface RateLimit {
  readonly points: number
  readonly duration: number
}

/** Each limit of API.md "Limits": its variable and default, written `<count>/<duration>`. */
export const RATE_LIMIT_VARIABLES = {
  /** login attempts per client IP, any outcome */
  login: ['TESSERA_LIMIT_LOGIN', '30/1m'],
  /** failed logins per client IP */
  loginFailed: ['TESSERA_LIMIT_LOGIN_FAILED', '5/1m'],
  /** registrations per client IP */
  register: ['TESSERA_LIMIT_REGISTER', '10/1h'],
  /** forgot-password, and verify-email/resend, each per email address */
  mailPerEmail: ['TESSERA_LIMIT_MAIL_EMAIL', '3/15m'],
  /** forgot-password, and verify-email/resend, each per client IP */
  mailPerIp: ['TESSERA_LIMIT_MAIL_IP', '10/15m'],
  /** reset-password, and verify-email, each per client IP */
  tokenUse: ['TESSERA_LIMIT_TOKEN', '10/15m'],
  /** password changes per user */
  passwordChange: ['TESSERA_LIMIT_PASSWORD_CHANGE', '5/15m'],
  /** refreshes per client IP */
  refresh: ['TESSERA_LIMIT_REFRESH', '600/1m'],
  /** logout, logout-all and session revocation, each per client IP */
  logout: ['TESSERA_LIMIT_LOGOUT', '600/1m'],
} as const satisfies Record<string, readonly [string, string]>
export type RateLimitName = keyof typeof RATE_LIMIT_VARIABLES
export type RateLimits = { readonly [name in RateLimitName]: RateLimit }

export interface LockoutConfig {
  /** Failed logins in a row for one email that lock it (`TESSERA_LOCKOUT_THRESHOLD`, 5). */
  readonly threshold: number
  /** Seconds a lock lasts (`TESSERA_LOCKOUT_DURATION`, 15m); at most a day, never permanent. */
  readonly duration: number
  /** Seconds after the first failure of a streak that it is forgotten (`TESSERA_LOCKOUT_WINDOW`, 24h). */
  readonly window: number
}

type Env = Readonly<Record<string, string | undefined>>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Reads the environment once. Every invalid value throws a {@link ConfigError} naming its variable. */
export function parseConfig(env: Env, cwd: string = process.cwd()): Config {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === '' ? undefined : value
  }
  const duration = (name: string, fallback: string, min = 1): number => {
    const seconds = parseDuration(name, get(name) ?? fallback)
    if (seconds < min) throw new ConfigError(name, `must be at least ${min} seconds`)
    return seconds
  }
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name)
    if (raw === undefined) return fallback
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got "${raw}"`)
    }
    return Number(raw)
  }
  const boolean = (name: string, fallback: boolean, yes = 'true', no = 'false'): boolean => {
    const raw = get(name)?.toLowerCase()
    if (raw === undefined) return fallback
    if (raw === yes || raw === 'true' || raw === '1' || raw === 'on') return true
    if (raw === no || raw === 'false' || raw === '0' || raw === 'off') return false
    throw new ConfigError(name, `expected ${yes} or ${no}, got "${raw}"`)
  }
  const url = (name: string, raw: string): URL => {
    try {
      const parsed = new URL(raw)
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)')
      return parsed
    } catch {
      throw new ConfigError(name, `expected an http(s) URL, got "${raw}"`)
    }
  }

  const production = get('NODE_ENV') === 'production'
  const port = integer('PORT', 3000, 0, 65_535)
  const host = get('HOST') ?? '127.0.0.1'

  if (production && get('TESSERA_PUBLIC_URL') === undefined) {
    // the issuer every verifier pins: in production it is the operator's to state, not a guess
    throw new ConfigError('TESSERA_PUBLIC_URL', 'is required in production, e.g. https://auth.example.com')
  }
  const publicUrlRaw = get('TESSERA_PUBLIC_URL') ?? `http://localhost:${port === 0 ? 3000 : port}`
  const publicParsed = url('TESSERA_PUBLIC_URL', publicUrlRaw)
  if (publicParsed.search || publicParsed.hash) {
    throw new ConfigError('TESSERA_PUBLIC_URL', 'must not have a query or fragment')
  }
  const publicUrl = publicParsed.href.replace(/\/+$/, '')
  if (production && publicParsed.protocol !== 'https:' && !isLoopbackHost(publicParsed.hostname)) {
    throw new ConfigError(
      'TESSERA_PUBLIC_URL',
      'must be an https:// URL in production (only localhost may use http)',
    )
  }

  const dataDir = resolve(cwd, get('TESSERA_DATA_DIR') ?? '.tessera')
  const databaseUrl = get('DATABASE_URL')
  let database: DatabaseTarget
  if (databaseUrl === undefined) database = { kind: 'pglite-dir', dir: resolve(dataDir, 'pgdata') }
  else if (databaseUrl === 'memory://') database = { kind: 'pglite-memory' }
  else if (/^postgres(ql)?:\/\//.test(databaseUrl)) database = { kind: 'postgres', url: databaseUrl }
  else throw new ConfigError('DATABASE_URL', 'expected postgres://…, memory:// or unset (embedded database)')

  const redisUrl = get('REDIS_URL')
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('REDIS_URL', `expected redis://… or rediss://…, got "${redisUrl}"`)
  }

  const secret = get('TESSERA_SECRET')
  if (secret !== undefined) assertStrongSecret('TESSERA_SECRET', secret)
  else if (production) {
    throw new ConfigError(
      'TESSERA_SECRET',
      'is required in production: set it to at least 32 random characters, e.g. `openssl rand -base64 48`',
    )
  }

  const secretPrevious = get('TESSERA_SECRET_PREVIOUS')
  if (secretPrevious !== undefined) {
    assertStrongSecret('TESSERA_SECRET_PREVIOUS', secretPrevious)
    // the old secret without a new one: the development secret in the data dir would take over
    // silently; a rotation names its new secret
    if (secret === undefined) {
      throw new ConfigError('TESSERA_SECRET_PREVIOUS', 'is only used with TESSERA_SECRET (the new secret)')
    }
    if (secretPrevious === secret) {
      throw new ConfigError(
        'TESSERA_SECRET_PREVIOUS',
        'equals TESSERA_SECRET; set it to the secret used before',
      )
    }
  }

  const signingAlgRaw = get('TESSERA_SIGNING_ALG') ?? 'RS256'
  if (!(SIGNING_ALGS as readonly string[]).includes(signingAlgRaw)) {
    throw new ConfigError(
      'TESSERA_SIGNING_ALG',
      `expected one of ${SIGNING_ALGS.join(', ')}, got "${signingAlgRaw}"`,
    )
  }
  const signingAlg = signingAlgRaw as SigningAlg
  const hs256Secret = get('TESSERA_HS256_SECRET')
  if (signingAlg === 'HS256') {
    if (hs256Secret === undefined) {
      throw new ConfigError('TESSERA_HS256_SECRET', 'is required when TESSERA_SIGNING_ALG=HS256')
    }
    assertStrongSecret('TESSERA_HS256_SECRET', hs256Secret)
  } else if (hs256Secret !== undefined) {
    throw new ConfigError('TESSERA_HS256_SECRET', 'is only used with TESSERA_SIGNING_ALG=HS256; unset it')
  }

  const rotationRaw = get('TESSERA_KEY_ROTATION') ?? '30d'
  const keyRotation = rotationRaw === 'off' ? null : duration('TESSERA_KEY_ROTATION', rotationRaw, 3600)

  const passwordMinLength = integer('TESSERA_PASSWORD_MIN_LENGTH', 8, 1, 1024)
  const passwordMaxLength = integer('TESSERA_PASSWORD_MAX_LENGTH', 256, 1, 1024)
  if (passwordMinLength > passwordMaxLength) {
    throw new ConfigError('TESSERA_PASSWORD_MIN_LENGTH', 'must not exceed TESSERA_PASSWORD_MAX_LENGTH')
  }

  const accessTokenTtl = duration('TESSERA_ACCESS_TOKEN_TTL', '15m', 1)
  const refreshIdleTtl = duration('TESSERA_REFRESH_IDLE_TTL', '7d', 60)
  const sessionMaxAge = duration('TESSERA_SESSION_MAX_AGE', '30d', 60)
  if (refreshIdleTtl > sessionMaxAge) {
    throw new ConfigError('TESSERA_REFRESH_IDLE_TTL', 'must not exceed TESSERA_SESSION_MAX_AGE')
  }
  const refreshReuseGrace = duration('TESSERA_REFRESH_REUSE_GRACE', '10s', 0)
  if (refreshReuseGrace > 300) {
    throw new ConfigError(
      'TESSERA_REFRESH_REUSE_GRACE',
      'must be at most 5 minutes; a long grace weakens theft detection',
    )
  }

  const origin = publicParsed.origin
  const allowedOrigins = (get('TESSERA_ALLOWED_ORIGINS') ?? origin)
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '')
    .map((value) => {
      const parsed = url('TESSERA_ALLOWED_ORIGINS', value)
      if (parsed.origin !== value.replace(/\/$/, '')) {
        throw new ConfigError(
          'TESSERA_ALLOWED_ORIGINS',
          `"${value}" is not an origin (scheme://host[:port], no path)`,
        )
      }
      return parsed.origin
    })

  const trustProxy = (get('TESSERA_TRUST_PROXY') ?? '')
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '')
  for (const entry of trustProxy) {
    const [address, bits] = entry.split('/')
    if (!address || isIP(address) === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
      throw new ConfigError('TESSERA_TRUST_PROXY', `"${entry}" is not an IP address or CIDR`)
    }
  }

  const rate = (name: string, fallback: string): RateLimit => {
    const raw = get(name) ?? fallback
    const match = /^(\d+)\s*\/\s*(\S+)$/.exec(raw)
    const points = Number(match?.[1])
    if (!match?.[2] || !Number.isSafeInteger(points) || points < 1) {
      throw new ConfigError(name, `expected <count>/<duration> such as 5/1m or 10/1h, got "${raw}"`)
    }
    const seconds = parseDuration(name, match[2])
    if (seconds < 1) throw new ConfigError(name, 'the duration must be at least 1 second')
    return { points, duration: seconds }
  }
  const limits = Object.fromEntries(
    Object.entries(RATE_LIMIT_VARIABLES).map(([key, [name, fallback]]) => [key, rate(name, fallback)]),
  ) as Record<RateLimitName, RateLimit>
  const lockoutDuration = duration('TESSERA_LOCKOUT_DURATION', '15m', 1)
  if (lockoutDuration > 86_400) {
    throw new ConfigError('TESSERA_LOCKOUT_DURATION', 'must be at most 1d: a lockout is never permanent')
  }
  const lockout: LockoutConfig = {
    threshold: integer('TESSERA_LOCKOUT_THRESHOLD', 5, 1, 1000),
    duration: lockoutDuration,
    window: duration('TESSERA_LOCKOUT_WINDOW', '24h', 1),
  }
  const redisPrefix = get('TESSERA_REDIS_PREFIX') ?? 'tessera:'
  if (!/^[\w:.-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError('TESSERA_REDIS_PREFIX', 'expected up to 64 letters, digits, or _ : . -')
  }

  const logLevel = get('LOG_LEVEL') ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`)
  }

  const requestTimeout = duration('TESSERA_REQUEST_TIMEOUT', '30s', 1)
  const headersTimeout = duration('TESSERA_HEADERS_TIMEOUT', '10s', 1)
  // Node refuses a headers timeout past the request timeout
  if (headersTimeout > requestTimeout) {
    throw new ConfigError('TESSERA_HEADERS_TIMEOUT', 'expected at most TESSERA_REQUEST_TIMEOUT')
  }

  const config: Config = {
    production,
    port,
    host,
    publicUrl,
    dataDir,
    database,
    databaseTimeout: duration('TESSERA_DB_TIMEOUT', '5s', 1),
    databasePoolSize: integer('TESSERA_DB_POOL_SIZE', 10, 1, 1000),
    databasePreparedStatements: boolean('TESSERA_DB_PREPARED_STATEMENTS', true, 'on', 'off'),
    redisUrl,
    secret,
    secretPrevious,
    audience: get('TESSERA_AUDIENCE') ?? 'tessera',
    accessTokenTtl,
    refreshIdleTtl,
    sessionMaxAge,
    refreshReuseGrace,
    signingAlg,
    hs256Secret,
    keyRotation,
    keyRefreshInterval: duration('TESSERA_KEY_REFRESH_INTERVAL', '30s', 1),
    // at least the key refresh interval (30 s) plus a verifier's JWKS cooldown (30 s in @tessera/middleware), with room
    keyPublishLead: duration('TESSERA_KEY_PUBLISH_LEAD', '90s', 0),
    passwordMinLength,
    passwordMaxLength,
    passwordMinScore: integer('TESSERA_PASSWORD_MIN_SCORE', 3, 0, 4),
    requireEmailVerification: boolean('TESSERA_REQUIRE_EMAIL_VERIFICATION', false),
    resetUrl: url('TESSERA_RESET_URL', get('TESSERA_RESET_URL') ?? `${publicUrl}/reset-password`).href,
    verifyUrl: url('TESSERA_VERIFY_URL', get('TESSERA_VERIFY_URL') ?? `${publicUrl}/verify-email`).href,
    resetTokenTtl: duration('TESSERA_RESET_TOKEN_TTL', '15m', 60),
    verifyTokenTtl: duration('TESSERA_VERIFY_TOKEN_TTL', '24h', 60),
    trustProxy,
    metricsToken: metricsToken(get('TESSERA_METRICS_TOKEN')),
    auditRetention: duration('TESSERA_AUDIT_RETENTION', '90d', 86_400),
    allowedOrigins,
    rateLimit: boolean('TESSERA_RATE_LIMIT', true, 'on', 'off'),
    limits: Object.freeze(limits),
    lockout: Object.freeze(lockout),
    redisPrefix,
    smtpUrl: smtpUrl(get('SMTP_URL')),
    mailFrom: get('MAIL_FROM') ?? `Tessera <no-reply@${publicParsed.hostname}>`,
    migrateOnStart: boolean('TESSERA_MIGRATE_ON_START', true),
    bodyLimit: integer('TESSERA_BODY_LIMIT', 16 * 1024, 1024, 1024 * 1024),
    requestTimeout,
    headersTimeout,
    hashing: Object.freeze({
      concurrency: integer('TESSERA_HASH_CONCURRENCY', defaultHashConcurrency(env), 1, 1024),
      maxQueue: integer('TESSERA_HASH_QUEUE', 64, 0, 100_000),
      maxWait: duration('TESSERA_HASH_QUEUE_TIMEOUT', '2s', 1),
    }),
    logLevel,
    housekeeping: boolean('TESSERA_HOUSEKEEPING', true, 'on', 'off'),
    housekeepingInterval: housekeepingInterval(duration('TESSERA_HOUSEKEEPING_INTERVAL', '1h', 60)),
    // at least an hour: instances whose clocks disagree by less than that never delete a session
    // another one still takes for live
    housekeepingGrace: duration('TESSERA_HOUSEKEEPING_GRACE', '1d', 3600),
    workers: parseWorkers('TESSERA_WORKERS', get('TESSERA_WORKERS') ?? '1'),
  }
  return Object.freeze(config)
}

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

function housekeepingInterval(seconds: number): number {
  // a timer longer than 2^31 ms (24.8 days) fires at once in Node: a week is plenty
  if (seconds > 7 * 86_400) throw new ConfigError('TESSERA_HOUSEKEEPING_INTERVAL', 'must be at most 7d')
  return seconds
}

function smtpUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  let parsed: URL | undefined
  try {
    parsed = new URL(raw)
  } catch {
    parsed = undefined
  }
  // the message never repeats the URL: it may hold the SMTP password
  if (!parsed || (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') || !parsed.hostname) {
    throw new ConfigError('SMTP_URL', 'expected smtp://[user:pass@]host[:port] or smtps://…')
  }
  return raw
}

/** A token a Prometheus can send as `Bearer <token>`: otherwise every scrape would be refused. */
function metricsToken(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  // the message never repeats the token
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(raw)) {
    throw new ConfigError(
      'TESSERA_METRICS_TOKEN',
      'may hold only letters, digits and - . _ ~ + / (then = padding)',
    )
  }
  if (raw.length < 16) {
    throw new ConfigError(
      'TESSERA_METRICS_TOKEN',
      'must be at least 16 characters, e.g. `openssl rand -hex 32`',
    )
  }
  return raw
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]'
}

function assertStrongSecret(variable: string, value: string): void {
  if (value.length < 32) {
    throw new ConfigError(
      variable,
      'must be at least 32 characters of random data, e.g. `openssl rand -base64 48`',
    )
  }
  // a long run of one character or a short repeated phrase is not random data
  if (new Set(value).size < 10) {
    throw new ConfigError(
      variable,
      'looks like a placeholder, not random data; use e.g. `openssl rand -base64 48`',
    )
  }
}
