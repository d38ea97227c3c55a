import { resolve } from 'node:path'
import { ConfigError } from './config-error.js'
import { hashConcurrency } from './hash-concurrency.js'
import {
  addresses,
  bearerToken,
  databaseUrl,
  duration,
  flag,
  integer,
  offOr,
  oneOf,
  origins,
  parseWorkers,
  path,
  publicUrl,
  rate,
  redisPrefix,
  redisUrl,
  secret,
  smtpUrl,
  text,
  threadPoolSize,
  url,
} from './parsers.js'
import type { Field, Setting } from './setting.js'
import { LOG_LEVELS, SIGNING_ALGS } from './types.js'

/**
 * Every environment variable the server reads: how it is parsed, what it defaults to, which field
 * it fills and what the docs say of it. `parseConfig` reads them in this order (a default may use
 * the fields above it) and reports every invalid one at once, in this order; docs/configuration.md
 * is rendered from it (`npm run docs:config`). Rules across variables are in rules.ts.
 */
export const SETTINGS = [
  // server
  {
    variable: 'NODE_ENV',
    group: 'server',
    field: 'production',
    parse: (_variable, raw) => raw === 'production',
    default: 'development',
    shown: 'unset',
    doc: '`production` requires `TESSERA_SECRET` and an explicit https `TESSERA_PUBLIC_URL`, and keeps mailed links out of the log',
  },
  {
    variable: 'PORT',
    group: 'server',
    field: 'port',
    parse: integer(0, 65_535),
    default: '3000',
    doc: 'where the server listens (`0`: any free port)',
  },
  {
    variable: 'HOST',
    group: 'server',
    field: 'host',
    parse: text,
    default: '127.0.0.1',
    doc: 'the address it listens on; `0.0.0.0` to be reachable from other machines (a proxy in front)',
  },
  {
    variable: 'TESSERA_PUBLIC_URL',
    group: 'server',
    field: 'publicUrl',
    parse: publicUrl,
    default: (values) => {
      // the issuer every verifier pins: in production it is the operator's to state, not a guess
      if (values.production) {
        throw new ConfigError(
          'TESSERA_PUBLIC_URL',
          'is required in production, e.g. https://auth.example.com',
        )
      }
      if (values.port === undefined) return undefined
      return `http://localhost:${values.port === 0 ? 3000 : values.port}`
    },
    shown: '`http://localhost:$PORT`',
    doc: "the issuer (`iss`) and base of every published URL (discovery, JWKS, mailed links, the refresh cookie's path); may have a path, no query; required in production, and https there (localhost excepted)",
  },
  {
    variable: 'TESSERA_WORKERS',
    group: 'server',
    field: 'workers',
    parse: (variable, raw) => parseWorkers(variable, raw),
    default: '1',
    doc: 'server processes `tessera serve` runs on the one port, `auto` for one per CPU (PostgreSQL only; `serve --workers` overrides it); see [operations](operations.md#several-workers-on-one-machine)',
  },
  {
    variable: 'TESSERA_SHUTDOWN_TIMEOUT',
    group: 'server',
    field: 'shutdownTimeout',
    parse: duration({ max: 3600 }),
    default: '5s',
    doc: "how long `tessera serve` drains requests in flight after SIGTERM or SIGINT before it closes their connections (keep it under your orchestrator's kill timeout)",
  },
  {
    variable: 'TESSERA_TRUST_PROXY',
    group: 'server',
    field: 'trustProxy',
    parse: addresses,
    default: '',
    shown: 'unset',
    doc: 'comma-separated addresses or CIDRs of your proxies, whose `X-Forwarded-For` is believed for client IPs; see [behind a proxy](operations.md#behind-a-proxy)',
  },
  {
    variable: 'TESSERA_ALLOWED_ORIGINS',
    group: 'server',
    field: 'allowedOrigins',
    parse: origins,
    default: (values) => (values.publicUrl === undefined ? undefined : [new URL(values.publicUrl).origin]),
    shown: "the public URL's origin",
    doc: 'comma-separated origins granted CORS (with credentials) and allowed on the cookie endpoints',
  },
  {
    variable: 'TESSERA_BODY_LIMIT',
    group: 'server',
    field: 'bodyLimit',
    parse: integer(1024, 1024 * 1024),
    default: '16384',
    doc: 'request body limit in bytes (1 KiB to 1 MiB); over it, 413 `PAYLOAD_TOO_LARGE`',
  },
  {
    variable: 'TESSERA_REQUEST_TIMEOUT',
    group: 'server',
    field: 'requestTimeout',
    parse: duration(),
    default: '30s',
    doc: 'longest a whole request (headers and body) may take to arrive; a client that trickles it is answered 408 `REQUEST_TIMEOUT` and cut off',
  },
  {
    variable: 'TESSERA_HEADERS_TIMEOUT',
    group: 'server',
    field: 'headersTimeout',
    parse: duration(),
    default: '10s',
    doc: 'longest the request headers may take to arrive (at most `TESSERA_REQUEST_TIMEOUT`)',
  },
  {
    variable: 'LOG_LEVEL',
    group: 'server',
    field: 'logLevel',
    parse: oneOf(LOG_LEVELS),
    default: 'info',
    doc: `pino level: ${LOG_LEVELS.map((level) => `\`${level}\``).join(', ')}`,
  },

  // tokens and sessions
  {
    variable: 'TESSERA_AUDIENCE',
    group: 'tokens',
    field: 'audience',
    parse: text,
    default: 'tessera',
    doc: '`aud` of access tokens',
  },
  {
    variable: 'TESSERA_ACCESS_TOKEN_TTL',
    group: 'tokens',
    field: 'accessTokenTtl',
    parse: duration(),
    default: '15m',
    doc: 'access-token lifetime; other services see a logout when the token expires',
  },
  {
    variable: 'TESSERA_SERVICE_TOKEN_TTL',
    group: 'tokens',
    field: 'serviceTokenTtl',
    parse: duration({
      min: 60,
      max: 86_400,
      tooLong: 'must be at most 1d; a service asks for a new token when it expires',
    }),
    default: '15m',
    doc: 'lifetime of a client-credentials token from `POST /oauth/token` (`1m` to `1d`); see [services](services.md)',
  },
  {
    variable: 'TESSERA_REFRESH_IDLE_TTL',
    group: 'tokens',
    field: 'refreshIdleTtl',
    parse: duration({ min: 60 }),
    default: '7d',
    doc: 'a session dies after this long without a refresh (at least `1m`, at most `TESSERA_SESSION_MAX_AGE`)',
  },
  {
    variable: 'TESSERA_SESSION_MAX_AGE',
    group: 'tokens',
    field: 'sessionMaxAge',
    parse: duration({ min: 60 }),
    default: '30d',
    doc: 'a session dies this long after login, whatever happens (at least `1m`)',
  },
  {
    variable: 'TESSERA_REFRESH_REUSE_GRACE',
    group: 'tokens',
    field: 'refreshReuseGrace',
    parse: duration({
      min: 0,
      max: 300,
      tooLong: 'must be at most 5 minutes; a long grace weakens theft detection',
    }),
    default: '10s',
    doc: 'a repeated refresh inside it is a race (parallel tabs), not theft, and gets the same successor (at most 5 minutes)',
  },

  // secrets and signing keys
  {
    variable: 'TESSERA_SECRET',
    group: 'keys',
    field: 'secret',
    parse: secret,
    shown: 'generated into the data dir outside production',
    doc: 'at least 32 random characters (`openssl rand -base64 48`); encrypts private signing keys at rest (AES-256-GCM under an HKDF-derived key); required with `NODE_ENV=production`',
  },
  {
    variable: 'TESSERA_SECRET_PREVIOUS',
    group: 'keys',
    field: 'secretPrevious',
    parse: secret,
    doc: 'the secret before a rotation of `TESSERA_SECRET` (same rules): still decrypts the keys sealed under it until `tessera keys reencrypt`; see [rotating the secret](security.md#rotating-tessera_secret)',
  },
  {
    variable: 'TESSERA_SIGNING_ALG',
    group: 'keys',
    field: 'signingAlg',
    parse: oneOf(SIGNING_ALGS),
    default: 'RS256',
    doc: '`RS256`, `ES256`, `EdDSA`, or `HS256` with `TESSERA_HS256_SECRET`; the same on every instance',
  },
  {
    variable: 'TESSERA_HS256_SECRET',
    group: 'keys',
    field: 'hs256Secret',
    // its strength is checked with TESSERA_SIGNING_ALG (rules.ts)
    parse: text,
    doc: 'shared secret (32+ random characters) for HS256, and only with it; never published, so every verifier needs it too',
  },
  {
    variable: 'TESSERA_KEY_ROTATION',
    group: 'keys',
    field: 'keyRotation',
    parse: offOr(duration({ min: 3600 })),
    default: '30d',
    doc: 'automatic signing-key rotation period (at least `1h`); `off` for rotation by hand only (`tessera keys rotate`)',
  },
  {
    variable: 'TESSERA_KEY_REFRESH_INTERVAL',
    group: 'keys',
    field: 'keyRefreshInterval',
    parse: duration(),
    default: '30s',
    doc: 'how often a running server re-reads the key ring (a key rotated elsewhere signs here within this time)',
  },
  {
    variable: 'TESSERA_KEY_PUBLISH_LEAD',
    group: 'keys',
    field: 'keyPublishLead',
    // at least the key refresh interval (30 s) plus a verifier's JWKS cooldown (30 s in @tessera/middleware), with room
    parse: duration({ min: 0 }),
    default: '90s',
    doc: 'a rotated-in key is published this long before it signs, so verifiers with a cached JWKS already know it',
  },

  // database and Redis
  {
    variable: 'TESSERA_DATA_DIR',
    group: 'storage',
    field: 'dataDir',
    parse: path,
    default: '.tessera',
    shown: '`./.tessera`',
    doc: 'the embedded database (`pgdata/`) and the development secret; relative to the working directory',
  },
  {
    variable: 'DATABASE_URL',
    group: 'storage',
    field: 'database',
    parse: databaseUrl,
    default: (values) =>
      values.dataDir === undefined
        ? undefined
        : { kind: 'pglite-dir', dir: resolve(values.dataDir, 'pgdata') },
    shown: 'unset: embedded PGlite in the data dir',
    doc: '`postgres://…` for PostgreSQL; `memory://` for a throwaway in-memory database',
  },
  {
    variable: 'TESSERA_DB_TIMEOUT',
    group: 'storage',
    field: 'databaseTimeout',
    parse: duration(),
    default: '5s',
    doc: 'longest any one wait on PostgreSQL may take while serving (a connection, a statement); past it the request is 503',
  },
  {
    variable: 'TESSERA_DB_POOL_SIZE',
    group: 'storage',
    field: 'databasePoolSize',
    parse: integer(1, 1000),
    default: '10',
    doc: 'PostgreSQL connections one server process keeps open at most (1 to 1000; each worker of `--workers` has its own)',
  },
  {
    variable: 'TESSERA_DB_PREPARED_STATEMENTS',
    group: 'storage',
    field: 'databasePreparedStatements',
    parse: flag('on', 'off'),
    default: 'on',
    doc: '`off` sends the refresh rotation as an unnamed statement, planned every time; needed behind a pooler that does not track prepared statements (PgBouncer in transaction mode before 1.21)',
  },
  {
    variable: 'TESSERA_MIGRATE_ON_START',
    group: 'storage',
    field: 'migrateOnStart',
    parse: flag('true', 'false'),
    default: 'true',
    doc: 'apply pending migrations when the server starts; `false` leaves them to `tessera migrate`',
  },
  {
    variable: 'REDIS_URL',
    group: 'storage',
    field: 'redisUrl',
    parse: redisUrl,
    doc: '`redis://…` or `rediss://…`: rate limits and lockouts shared by every instance; unset: they count in the database',
  },
  {
    variable: 'TESSERA_REDIS_PREFIX',
    group: 'storage',
    field: 'redisPrefix',
    parse: redisPrefix,
    default: 'tessera:',
    doc: 'prefix of every Redis key the server writes (several deployments on one Redis)',
  },

  // passwords and accounts
  {
    variable: 'TESSERA_PASSWORD_MIN_LENGTH',
    group: 'accounts',
    field: 'passwordMinLength',
    parse: integer(1, 1024),
    default: '8',
    doc: 'shortest password, in characters (1 to 1024, at most `TESSERA_PASSWORD_MAX_LENGTH`)',
  },
  {
    variable: 'TESSERA_PASSWORD_MAX_LENGTH',
    group: 'accounts',
    field: 'passwordMaxLength',
    parse: integer(1, 1024),
    default: '256',
    doc: 'longest password, in characters (up to 1024)',
  },
  {
    variable: 'TESSERA_PASSWORD_MIN_SCORE',
    group: 'accounts',
    field: 'passwordMinScore',
    parse: integer(0, 4),
    default: '3',
    doc: 'least zxcvbn score (0–4) of a new password; `0` checks length and the email only',
  },
  {
    variable: 'TESSERA_REQUIRE_EMAIL_VERIFICATION',
    group: 'accounts',
    field: 'requireEmailVerification',
    parse: flag('true', 'false'),
    default: 'false',
    doc: 'refuse login until the email is verified; register then answers 202 without tokens',
  },

  // mail and one-time links
  {
    variable: 'SMTP_URL',
    group: 'mail',
    field: 'smtpUrl',
    parse: smtpUrl,
    shown: 'unset: mail goes to the log',
    doc: '`smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465`; see [mail](mail.md)',
  },
  {
    variable: 'MAIL_FROM',
    group: 'mail',
    field: 'mailFrom',
    parse: text,
    default: (values) =>
      values.publicUrl === undefined ? undefined : `Tessera <no-reply@${new URL(values.publicUrl).hostname}>`,
    shown: '`Tessera <no-reply@<public host>>`',
    doc: 'the sender of every mail',
  },
  {
    variable: 'TESSERA_RESET_URL',
    group: 'mail',
    field: 'resetUrl',
    parse: url,
    default: (values) => (values.publicUrl === undefined ? undefined : `${values.publicUrl}/reset-password`),
    shown: "the server's own page, `<public URL>/reset-password`",
    doc: 'where password-reset links point; the token is appended as `?token=`',
  },
  {
    variable: 'TESSERA_VERIFY_URL',
    group: 'mail',
    field: 'verifyUrl',
    parse: url,
    default: (values) => (values.publicUrl === undefined ? undefined : `${values.publicUrl}/verify-email`),
    shown: "the server's own page, `<public URL>/verify-email`",
    doc: 'where email-verification links point; the token is appended as `?token=`',
  },
  {
    variable: 'TESSERA_RESET_TOKEN_TTL',
    group: 'mail',
    field: 'resetTokenTtl',
    parse: duration({ min: 60 }),
    default: '15m',
    doc: 'lifetime of a password-reset link (at least `1m`)',
  },
  {
    variable: 'TESSERA_VERIFY_TOKEN_TTL',
    group: 'mail',
    field: 'verifyTokenTtl',
    parse: duration({ min: 60 }),
    default: '24h',
    doc: 'lifetime of an email-verification link (at least `1m`)',
  },

  // rate limits and lockout
  {
    variable: 'TESSERA_RATE_LIMIT',
    group: 'limits',
    field: 'rateLimit',
    parse: flag('on', 'off'),
    default: 'on',
    doc: '`off` turns every rate limit and the lockout off (tests, benchmarks)',
  },
  {
    variable: 'TESSERA_LIMIT_LOGIN',
    group: 'limits',
    field: 'limits.login',
    parse: rate,
    default: '30/1m',
    doc: 'logins per client IP, any outcome',
  },
  {
    variable: 'TESSERA_LIMIT_LOGIN_FAILED',
    group: 'limits',
    field: 'limits.loginFailed',
    parse: rate,
    default: '5/1m',
    doc: 'failed logins (a wrong password, or a wrong code at `/auth/mfa/verify`) per client IP',
  },
  {
    variable: 'TESSERA_LOCKOUT_THRESHOLD',
    group: 'limits',
    field: 'lockout.threshold',
    parse: integer(1, 1000),
    default: '5',
    doc: 'failed logins in a row that lock an email',
  },
  {
    variable: 'TESSERA_LOCKOUT_DURATION',
    group: 'limits',
    field: 'lockout.duration',
    parse: duration({ max: 86_400, tooLong: 'must be at most 1d: a lockout is never permanent' }),
    default: '15m',
    doc: 'how long a lock lasts (at most `1d`: a lock is never permanent)',
  },
  {
    variable: 'TESSERA_LOCKOUT_WINDOW',
    group: 'limits',
    field: 'lockout.window',
    parse: duration(),
    default: '24h',
    doc: 'a streak of failures is forgotten this long after its first',
  },
  {
    variable: 'TESSERA_LIMIT_REGISTER',
    group: 'limits',
    field: 'limits.register',
    parse: rate,
    default: '10/1h',
    doc: 'registrations per client IP',
  },
  {
    variable: 'TESSERA_LIMIT_MAIL_EMAIL',
    group: 'limits',
    field: 'limits.mailPerEmail',
    parse: rate,
    default: '3/15m',
    doc: 'forgot-password, and verify-email/resend, per email address (each route counts on its own)',
  },
  {
    variable: 'TESSERA_LIMIT_MAIL_IP',
    group: 'limits',
    field: 'limits.mailPerIp',
    parse: rate,
    default: '10/15m',
    doc: 'forgot-password, and verify-email/resend, per client IP',
  },
  {
    variable: 'TESSERA_LIMIT_TOKEN',
    group: 'limits',
    field: 'limits.tokenUse',
    parse: rate,
    default: '10/15m',
    doc: 'reset-password, verify-email, and `/auth/mfa/verify`, each per client IP',
  },
  {
    variable: 'TESSERA_LIMIT_PASSWORD_CHANGE',
    group: 'limits',
    field: 'limits.passwordChange',
    parse: rate,
    default: '5/15m',
    doc: 'password changes per user; each second-factor route (TOTP setup, confirm, disable, recovery codes, step-up) per user',
  },
  {
    variable: 'TESSERA_LIMIT_REFRESH',
    group: 'limits',
    field: 'limits.refresh',
    parse: rate,
    default: '600/1m',
    doc: 'refreshes per client IP',
  },
  {
    variable: 'TESSERA_LIMIT_LOGOUT',
    group: 'limits',
    field: 'limits.logout',
    parse: rate,
    default: '600/1m',
    doc: 'logout, logout-all and session revocation, each per client IP',
  },
  {
    variable: 'TESSERA_LIMIT_OAUTH',
    group: 'limits',
    field: 'limits.oauth',
    parse: rate,
    default: '600/1m',
    doc: '`POST /oauth/token` and `POST /oauth/introspect`, each per service client',
  },

  // password hashing capacity
  {
    variable: 'UV_THREADPOOL_SIZE',
    group: 'hashing',
    field: 'threadPoolSize',
    parse: threadPoolSize,
    default: '4',
    doc: "Node's libuv thread pool, where argon2 and signatures run; Tessera reads it only for the default of `TESSERA_HASH_CONCURRENCY`",
  },
  {
    variable: 'TESSERA_HASH_CONCURRENCY',
    group: 'hashing',
    field: 'hashing.concurrency',
    parse: integer(1, 1024),
    default: (values) =>
      values.threadPoolSize === undefined ? undefined : hashConcurrency(values.threadPoolSize),
    shown: 'cores, at most `UV_THREADPOOL_SIZE` − 1',
    doc: 'password hashes (argon2id) running at once per process (with `--workers N`, the default is split among the workers); more wait in line. One libuv thread stays free for signatures and file work',
  },
  {
    variable: 'TESSERA_HASH_QUEUE',
    group: 'hashing',
    field: 'hashing.maxQueue',
    parse: integer(0, 100_000),
    default: '64',
    doc: 'hashes that may wait for a turn; the next request is refused at once with 503 `SERVICE_UNAVAILABLE` and `Retry-After: 1`',
  },
  {
    variable: 'TESSERA_HASH_QUEUE_TIMEOUT',
    group: 'hashing',
    field: 'hashing.maxWait',
    parse: duration(),
    default: '2s',
    doc: 'longest a request waits in that line before it is refused the same way',
  },

  // observability and housekeeping
  {
    variable: 'TESSERA_METRICS_TOKEN',
    group: 'operations',
    field: 'metricsToken',
    parse: bearerToken,
    doc: 'bearer token (16+ characters) for `GET /metrics`; unset: `/metrics` answers 404',
  },
  {
    variable: 'TESSERA_AUDIT_RETENTION',
    group: 'operations',
    field: 'auditRetention',
    parse: duration({ min: 86_400 }),
    default: '90d',
    doc: 'how long audit events are kept (at least `1d`); housekeeping deletes older ones',
  },
  {
    variable: 'TESSERA_HOUSEKEEPING',
    group: 'operations',
    field: 'housekeeping',
    parse: flag('on', 'off'),
    default: 'on',
    doc: '`off`: this instance never deletes dead sessions and spent tokens (leave it on for at least one instance, or run `tessera housekeeping` from cron)',
  },
  {
    variable: 'TESSERA_HOUSEKEEPING_INTERVAL',
    group: 'operations',
    field: 'housekeepingInterval',
    // a timer longer than 2^31 ms (24.8 days) fires at once in Node: a week is plenty
    parse: duration({ min: 60, max: 7 * 86_400, tooLong: 'must be at most 7d' }),
    default: '1h',
    doc: 'how often housekeeping runs (the first run a minute after start; from `1m` to `7d`); one instance at a time does the work',
  },
  {
    variable: 'TESSERA_HOUSEKEEPING_GRACE',
    group: 'operations',
    field: 'housekeepingGrace',
    // at least an hour: instances whose clocks disagree by less than that never delete a session
    // another one still takes for live
    parse: duration({ min: 3600 }),
    default: '1d',
    doc: 'how long a dead session (revoked or expired) and a spent one-time token are kept before housekeeping deletes them (at least `1h`)',
  },
] as const satisfies readonly Setting[]

// every field of Values has its row: a field no row fills fails to compile here, naming it
type Unfilled = Exclude<Field, (typeof SETTINGS)[number]['field']>
true satisfies [Unfilled] extends [never] ? true : `no row of the table fills ${Unfilled}`
