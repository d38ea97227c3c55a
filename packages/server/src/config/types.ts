import type { OAuthProviderConfig } from './oauth-providers.js'
export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA', 'HS256'] as const
export type SigningAlg = (typeof SIGNING_ALGS)[number]

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

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
  /** `TESSERA_SERVICE_TOKEN_TTL`: seconds a client-credentials token (`POST /oauth/token`) lives. */
  readonly serviceTokenTtl: number
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
  /** `TESSERA_MAGIC_LINK`: serve the magic-link routes and page; off, they do not exist (404). */
  readonly magicLink: boolean
  /** `TESSERA_MAGIC_LINK_URL`: the page mailed magic links point to (`?token=` appended). */
  readonly magicLinkUrl: string
  /** `TESSERA_MAGIC_LINK_TTL`: seconds a magic link works (15 minutes). */
  readonly magicLinkTtl: number
  /** `TESSERA_MFA_REQUIRED_ROLES`: holders of these roles sign in only with a second factor (enrolling first). */
  readonly mfaRequiredRoles: readonly string[]
  /** `TESSERA_ADMIN_ROLE`: holders of this role may use the `/admin` API. */
  readonly adminRole: string
  /** `TESSERA_EMAIL_CHANGE_URL`: the page mailed email-change links point to (`?token=` appended). */
  readonly emailChangeUrl: string
  /** `TESSERA_WEBAUTHN_RP_ID`: the relying-party id passkeys are registered under and checked against. */
  readonly webauthnRpId: string
  /** `TESSERA_WEBAUTHN_ORIGINS`: the origins a passkey ceremony may come from (its client data's `origin`). */
  readonly webauthnOrigins: readonly string[]
  /** `TESSERA_OAUTH_PROVIDERS`: the ids of the providers, in order. */
  readonly oauthProviderIds: readonly string[]
  /** The providers, read from `TESSERA_OAUTH_<ID>_*`. */
  readonly oauthProviders: readonly OAuthProviderConfig[]
  /** `TESSERA_OAUTH_REDIRECTS`: normalised URLs a provider sign-in may return to, at or below. */
  readonly oauthRedirects: readonly string[]
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
  /** `TESSERA_SHUTDOWN_TIMEOUT`: seconds `tessera serve` drains requests after a signal before cutting them. */
  readonly shutdownTimeout: number
  /** `TESSERA_WEBHOOK_URL`: where events are POSTed (docs/webhooks.md); unset, no event is written. */
  readonly webhookUrl: string | undefined
  /** `TESSERA_WEBHOOK_SECRET`: `whsec_` and base64 of the HMAC key (at least 24 bytes); required with the URL. */
  readonly webhookSecret: string | undefined
  /** `TESSERA_WEBHOOK_TIMEOUT`: seconds one delivery attempt may take. */
  readonly webhookTimeout: number
  /** `TESSERA_WEBHOOK_RETENTION`: seconds a delivered event is kept before housekeeping deletes it. */
  readonly webhookRetention: number
}

export interface HashingConfig {
  readonly concurrency: number
  /** Milliseconds of event-loop delay (p99) from which one hash runs at a time; null: off. */
  readonly loopDelay: number | null
  readonly maxQueue: number
  /** Seconds one may wait in line. */
  readonly maxWait: number
}

/** At most `points` requests per `duration` seconds, a fixed window from the first of them. */
export interface RateLimit {
  readonly points: number
  readonly duration: number
}

/** The limits of API.md "Limits", each set by a `TESSERA_LIMIT_*` variable of the table. */
export type RateLimitName =
  | 'login'
  | 'loginFailed'
  | 'register'
  | 'mailPerEmail'
  | 'mailPerIp'
  | 'tokenUse'
  | 'passwordChange'
  | 'refresh'
  | 'logout'
  | 'oauth'
  | 'passkey'
export type RateLimits = { readonly [name in RateLimitName]: RateLimit }

export interface LockoutConfig {
  /** Failed logins in a row for one email that lock it (`TESSERA_LOCKOUT_THRESHOLD`, 5). */
  readonly threshold: number
  /** Seconds a lock lasts (`TESSERA_LOCKOUT_DURATION`, 15m); at most a day, never permanent. */
  readonly duration: number
  /** Seconds after the first failure of a streak that it is forgotten (`TESSERA_LOCKOUT_WINDOW`, 24h). */
  readonly window: number
}
