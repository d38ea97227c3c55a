import { parseArgs } from 'node:util'

/** What the soak's clients do; each is started on a fixed schedule (see {@link SoakOptions.rates}). */
export const SOAK_KINDS = ['login', 'refresh', 'me', 'sessions', 'logout'] as const
export type SoakKind = (typeof SOAK_KINDS)[number]

export const SOAK_DATABASES = ['pglite', 'postgres'] as const
export type SoakDatabase = (typeof SOAK_DATABASES)[number]

export interface SoakOptions {
  /** Run `npm run build -w @tessera/server` first (`tessera serve` runs from dist/). */
  build: boolean
  /** `pglite`: embedded, in a new temporary data dir; `postgres`: a new database on 127.0.0.1:5432, dropped at the end. */
  database: SoakDatabase
  /** Seconds of load. */
  duration: number
  /** Seconds after which the first sample counts as "start" (JIT, caches and pools settle first). */
  warmup: number
  /** Seconds between samples. */
  sampleEvery: number
  /** Registered users; each has `clients / users` clients (devices) with a session of their own. */
  users: number
  clients: number
  /**
   * Requests started per second, by kind. A `logout` is followed by a login of the same client as
   * soon as it is answered, counted with the logins, so logins run at `login + logout` per second.
   */
  rates: Record<SoakKind, number>
  /** Scheduled requests beyond this many in flight are dropped and counted, never queued. */
  maxInFlight: number
  /** Milliseconds before a request counts as a timeout (its connection is closed). */
  timeoutMs: number
}

// rates a 2-core machine sustains beside the server with room to spare: a login is about 18 ms of
// server CPU (argon2id), so 4 logins/s take under a tenth of one core; the rest are a few ms each
const DEFAULT_RATES: Record<SoakKind, number> = { login: 2, refresh: 40, me: 100, sessions: 10, logout: 2 }

export const SOAK_USAGE = [
  'npm run soak [-- --duration 10m] [-- --database pglite|postgres] [-- --no-build]',
  '  [-- --warmup 30s] [-- --sample-every 10s] [-- --users 50] [-- --clients 100] [-- --max-in-flight 64]',
  `  [-- --rate-login ${DEFAULT_RATES.login}] [-- --rate-refresh ${DEFAULT_RATES.refresh}] [-- --rate-me ${DEFAULT_RATES.me}]`,
  `  [-- --rate-sessions ${DEFAULT_RATES.sessions}] [-- --rate-logout ${DEFAULT_RATES.logout}]   (requests per second)`,
  'durations: seconds (600) or with a unit (90s, 10m, 1h)',
].join('\n')

const UNITS: Record<string, number> = { '': 1, ms: 0.001, s: 1, m: 60, h: 3600 }

/** `600`, `90s`, `10m`, `1h` or `500ms` as seconds; throws naming `flag` otherwise. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|)$/.exec(text.trim())
  const unit = match ? UNITS[match[2] ?? ''] : undefined
  if (!match || unit === undefined)
    throw new Error(`${flag}: "${text}" is not a duration (600, 90s, 10m, 1h)`)
  return Number(match[1]) * unit
}

function parseNumber(flag: string, text: string, min: number, integer: boolean): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new Error(`${flag}: "${text}" is not ${integer ? 'a whole number' : 'a number'} of at least ${min}`)
  }
  return value
}

export function parseSoakOptions(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      'no-build': { type: 'boolean', default: false },
      database: { type: 'string', default: 'pglite' },
      duration: { type: 'string', default: '10m' },
      warmup: { type: 'string', default: '30s' },
      'sample-every': { type: 'string', default: '10s' },
      users: { type: 'string', default: '50' },
      clients: { type: 'string', default: '100' },
      'max-in-flight': { type: 'string', default: '64' },
      timeout: { type: 'string', default: '10s' },
      'rate-login': { type: 'string', default: String(DEFAULT_RATES.login) },
      'rate-refresh': { type: 'string', default: String(DEFAULT_RATES.refresh) },
      'rate-me': { type: 'string', default: String(DEFAULT_RATES.me) },
      'rate-sessions': { type: 'string', default: String(DEFAULT_RATES.sessions) },
      'rate-logout': { type: 'string', default: String(DEFAULT_RATES.logout) },
    },
    strict: true,
  })
  const database = SOAK_DATABASES.find((name) => name === values.database)
  if (database === undefined) {
    throw new Error(`--database: "${values.database}" is not one of ${SOAK_DATABASES.join(', ')}`)
  }
  const users = parseNumber('--users', values.users, 1, true)
  const clients = parseNumber('--clients', values.clients, 1, true)
  if (clients < users) throw new Error(`--clients (${clients}) must be at least --users (${users})`)
  const duration = parseDuration('--duration', values.duration)
  const sampleEvery = parseDuration('--sample-every', values['sample-every'])
  if (duration <= 0 || sampleEvery <= 0) throw new Error('--duration and --sample-every must be more than 0')
  return {
    build: !values['no-build'],
    database,
    duration,
    warmup: parseDuration('--warmup', values.warmup),
    sampleEvery,
    users,
    clients,
    rates: {
      login: parseNumber('--rate-login', values['rate-login'], 0, false),
      refresh: parseNumber('--rate-refresh', values['rate-refresh'], 0, false),
      me: parseNumber('--rate-me', values['rate-me'], 0, false),
      sessions: parseNumber('--rate-sessions', values['rate-sessions'], 0, false),
      logout: parseNumber('--rate-logout', values['rate-logout'], 0, false),
    },
    maxInFlight: parseNumber('--max-in-flight', values['max-in-flight'], 1, true),
    timeoutMs: parseDuration('--timeout', values.timeout) * 1000,
  }
}
