import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { createEventRecorder } from './audit/recorder.js'
import { type Clock, systemClock } from './clock.js'
import { type Config, ConfigError } from './config.js'
import { type DataDirLock, lockDataDir } from './data-dir-lock.js'
import type { AuthEvents } from './events.js'
import type { FlowDeps } from './flows/deps.js'
import { createProviderDirectory } from './flows/providers/provider-directory.js'
import {
  auditRetentionTask,
  type Housekeeping,
  mfaTokensTask,
  revocationEventsTask,
  startHousekeeping,
  webauthnChallengesTask,
  webhookOutboxTask,
} from './housekeeping.js'
import { buildApp } from './http/app.js'
import { createKeyRing, type KeyRing, openPrivateKey, wrappingKeys } from './keys/key-ring.js'
import { deriveKey, loadOrCreateDevSecret } from './keys/secret.js'
import { totpWrappingKeys } from './keys/wrapping.js'
import { createLimits } from './limits/limits.js'
import { createLimiterStore } from './limits/store.js'
import type { Mailer } from './mail/mail.js'
import { createMailer } from './mail/mailer.js'
import { createMetrics, type Metrics } from './metrics.js'
import { createPasswordHasher, type PasswordHasher } from './passwords/hasher.js'
import { gateHashing } from './passwords/hashing-gate.js'
import { type LoopPressure, watchLoopDelay } from './passwords/loop-delay.js'
import { createPasswordPolicy } from './passwords/policy.js'
import type { RedisHandle } from './redis.js'
import {
  createRevocationFeed,
  POLL_INTERVAL_MS,
  POLL_INTERVAL_WITH_REDIS_MS,
  type RevocationFeed,
} from './revocations/feed.js'
import { revocationChannel } from './revocations/wake-up.js'
import { type DatabaseHandle, openDatabase } from './store/db.js'
import { createHousekeepingStore } from './store/housekeeping.js'
import { migrateToLatest } from './store/migrate.js'
import type { SigningKeyStore } from './store/signing-keys.js'
import { createStores, type Stores } from './store/stores.js'
import { createWebhookStore } from './store/webhooks.js'
import { startWebhookDelivery, type WebhookDelivery } from './webhooks/delivery.js'

export interface Tessera {
  app: FastifyInstance
  deps: FlowDeps
  database: DatabaseHandle
  /** What `GET /metrics` serves. */
  metrics: Metrics
  /** Deletes dead sessions and spent tokens periodically; undefined with TESSERA_HOUSEKEEPING=off. */
  housekeeping: Housekeeping | undefined
  /** Sends the webhook outbox (TESSERA_WEBHOOK_URL); undefined without it. */
  webhooks: WebhookDelivery | undefined
  /** The Redis connection at REDIS_URL (rate limits, readiness); undefined without REDIS_URL. */
  redis: RedisHandle | undefined
  /** Closes the HTTP server (draining requests), the key ring timer, the database and the data-dir lock. */
  close(): Promise<void>
}

export interface TesseraOptions {
  logger: Logger | false
  clock?: Clock
  hasher?: PasswordHasher
  /** Sends mail; the default is SMTP at SMTP_URL, or the log without it. */
  mailer?: Mailer
  /** Where flows report auth events; the default writes the audit log and counts into `metrics`. */
  events?: AuthEvents
  /** The server's metrics; the default is a registry of its own, counting live sessions in this database. */
  metrics?: Metrics
  /**
   * What `GET /metrics` of the default `metrics` serves instead of this process's registry: a
   * `serve --workers` worker asks its primary for the whole service's metrics.
   */
  scrapeMetrics?: () => Promise<string>
  /** Milliseconds between the revocation feed's `: ping` comments (default 15 s); tests shorten it. */
  revocationHeartbeatMs?: number
  /** Apply pending migrations first; default `config.migrateOnStart` (false in a worker: its primary did). */
  migrate?: boolean
  /** An open database to use instead of opening `config.database` (tests). */
  database?: DatabaseHandle
  /** What this process is, recorded in the data-dir lock: `serve`, `migrate`, … */
  command?: string
  /** Called if the data-dir lock is lost (its file removed or taken over); the default exits. */
  onLockCompromised?: (error: Error) => void
  /**
   * Deliver webhooks from a background loop (default true); false leaves it to
   * `webhooks.deliverDue()`, which tests call after moving their clock.
   */
  webhookLoop?: boolean
  /** Whether the event loop runs late, for the hashing gate; the default watches it when TESSERA_HASH_LOOP_DELAY is set (tests pass a fake). */
  loopPressure?: LoopPressure
}

/** The secret that encrypts private keys: TESSERA_SECRET, or a generated development secret. */
export async function resolveSecret(config: Config, logger: Logger | false): Promise<string> {
  if (config.secret) return config.secret
  if (config.database.kind === 'pglite-memory') return randomBytes(48).toString('base64url')
  const dev = await loadOrCreateDevSecret(config.dataDir)
  if (logger) {
    logger.warn(
      { path: dev.path, created: dev.created },
      'TESSERA_SECRET is not set: using a development secret kept in the data dir. Set TESSERA_SECRET in production.',
    )
  }
  return dev.secret
}

export interface SecretCheck {
  /** Keys only TESSERA_SECRET_PREVIOUS opens: `tessera keys reencrypt` moves them under TESSERA_SECRET. */
  sealedUnderPrevious: string[]
}

/**
 * Refuses a secret that cannot decrypt the current signing key in the database: a server could not
 * sign with it, and a key that `keys rotate` sealed under it would stop every server at its next start.
 * During a secret rotation TESSERA_SECRET_PREVIOUS may open keys instead; they are listed.
 */
export async function assertSecretOpensSigningKeys(
  config: Config,
  store: SigningKeyStore,
  secret: string,
): Promise<SecretCheck> {
  const keys = wrappingKeys(secret, config.secretPrevious)
  const rows = await store.listAll()
  const sealedUnderPrevious: string[] = []
  for (const [index, row] of rows.entries()) {
    const opened = await openPrivateKey(keys, row.privateJwe)
    if (opened?.sealedUnder === 'previous') sealedUnderPrevious.push(row.kid)
    // the newest key (the one that signs, or is about to) must open; retired ones only verify
    if (index > 0 || opened) continue
    const which = config.secretPrevious
      ? 'does not, nor does TESSERA_SECRET_PREVIOUS,'
      : config.secret
        ? 'does not'
        : `is not set, and the development secret in ${join(config.dataDir, 'secret')} does not`
    throw new ConfigError(
      'TESSERA_SECRET',
      `${which} decrypt the signing key ${row.kid} in the database. ` +
        'Use the secret the keys were made with (the one the servers run with).',
    )
  }
  return { sealedUnderPrevious }
}

/** Said at every start while accounts parked by migration 0005 remain: ids only, never an address. */
async function warnOfEmailKeyConflicts(stores: Stores, logger: Logger | false): Promise<void> {
  if (!logger) return
  const conflicts = await stores.users.emailKeyConflicts()
  if (conflicts.length === 0) return
  logger.warn(
    { userIds: conflicts.map((conflict) => conflict.userId) },
    `${conflicts.length} account(s) share a mailbox with an older account and cannot sign in by email; ` +
      'run tessera users conflicts, then keep or delete each by --id',
  )
}

/** Opens the database (holding the data-dir lock for the embedded one), migrates, loads the key ring. */
export async function openTesseraDatabase(
  config: Config,
  options: Pick<TesseraOptions, 'database' | 'command' | 'onLockCompromised' | 'logger'> & {
    migrate?: boolean
    /** Milliseconds that bound every wait on PostgreSQL (openDatabase's `timeoutMs`); the server sets it, the CLI not. */
    timeoutMs?: number
  },
): Promise<{ database: DatabaseHandle; lock: DataDirLock | undefined }> {
  let lock: DataDirLock | undefined
  if (!options.database && config.database.kind === 'pglite-dir') {
    lock = await lockDataDir(
      config.dataDir,
      {
        command: options.command ?? 'process',
        ...(options.command === 'serve' ? { url: config.publicUrl } : {}),
      },
      options.onLockCompromised ??
        ((error) => {
          if (options.logger)
            options.logger.fatal({ err: error }, 'lost the data-dir lock; exiting to protect the database')
          process.exit(1)
        }),
    )
  }
  try {
    const migrate = options.migrate ?? config.migrateOnStart
    const separateMigration =
      migrate && !options.database && options.timeoutMs !== undefined && config.database.kind === 'postgres'
    if (separateMigration) {
      // a migration may outlast the serving timeout (an index on a big table, or waiting for
      // another instance's migration lock): it gets an unbounded connection of its own
      const unbounded = await openDatabase(config.database, { poolSize: 1 })
      try {
        await migrateToLatest(unbounded.db)
      } finally {
        await unbounded.close()
      }
    }
    const database =
      options.database ??
      (await openDatabase(config.database, {
        poolSize: config.databasePoolSize,
        preparedStatements: config.databasePreparedStatements,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      }))
    if (migrate && !separateMigration) await migrateToLatest(database.db)
    return { database, lock }
  } catch (error) {
    await lock?.release()
    throw error
  }
}

/**
 * Checks that TESSERA_SECRET opens the signing keys (saying when TESSERA_SECRET_PREVIOUS can go)
 * and loads the key ring, making the first key or a scheduled rotation.
 */
export async function loadKeyRing(
  config: Config,
  deps: {
    stores: Pick<Stores, 'signingKeys'>
    secret: string
    clock: Clock
    events: AuthEvents
    logger: Logger | false
  },
): Promise<KeyRing> {
  const { stores, secret, clock, events, logger } = deps
  if (config.signingAlg !== 'HS256') {
    const check = await assertSecretOpensSigningKeys(config, stores.signingKeys, secret)
    if (logger && check.sealedUnderPrevious.length > 0) {
      logger.warn(
        { kids: check.sealedUnderPrevious },
        'signing keys are sealed under TESSERA_SECRET_PREVIOUS: run tessera keys reencrypt, then remove TESSERA_SECRET_PREVIOUS',
      )
    } else if (logger && config.secretPrevious) {
      logger.info('every signing key opens with TESSERA_SECRET: TESSERA_SECRET_PREVIOUS can be removed')
    }
  }
  return createKeyRing({
    store: stores.signingKeys,
    secret,
    previousSecret: config.secretPrevious,
    clock,
    config,
    onError: (error) => {
      if (logger) logger.error({ err: error }, 'key ring reload failed; keeping the keys loaded before')
    },
    onRotated: (kid) => events.record({ type: 'key_rotated', detail: { kid, by: 'schedule' } }),
  })
}

/** Wires a whole server from its configuration. Listening is left to the caller. */
export async function createTessera(config: Config, options: TesseraOptions): Promise<Tessera> {
  const clock = options.clock ?? systemClock
  // the data-dir lock first: a server refused for it must not warn about, or create, a secret
  const { database, lock } = await openTesseraDatabase(config, {
    ...options,
    timeoutMs: config.databaseTimeout * 1000,
  })
  // never throws: it connects in the background, and while Redis is down rate limits count in memory
  // (ioredis, about 18 MB, is loaded only when there is a Redis to talk to)
  const redis = config.redisUrl
    ? (await import('./redis.js')).openRedis(config.redisUrl, options.logger)
    : undefined
  // TESSERA_HASH_LOOP_DELAY: a second hash at once only while the event loop keeps up
  const loopPressure =
    options.loopPressure ??
    (config.hashing.loopDelay === null
      ? undefined
      : watchLoopDelay({ thresholdMs: config.hashing.loopDelay }))
  try {
    const secret = await resolveSecret(config, options.logger)
    // the feed reads what the stores write; a revocation committed here wakes it at once
    let revocationFeed: RevocationFeed | undefined
    const stores = createStores(database.db, {
      accessTokenTtl: config.accessTokenTtl,
      onRevocation: () => revocationFeed?.wake(),
      webhooks: config.webhookUrl ? { clock } : undefined,
    })
    revocationFeed = createRevocationFeed({
      store: stores.revocationEvents,
      logger: options.logger,
      pollIntervalMs: redis ? POLL_INTERVAL_WITH_REDIS_MS : POLL_INTERVAL_MS,
      redis: redis && { client: redis.client, channel: revocationChannel(config.redisPrefix) },
    })
    const metrics =
      options.metrics ??
      createMetrics({
        clock,
        countActiveSessions: () => stores.sessions.countLive(clock.now()),
        onCollectError: (error) => {
          if (options.logger)
            options.logger.warn({ err: error }, 'counting active sessions for /metrics failed')
        },
        scrape: options.scrapeMetrics,
        ...(config.webhookUrl ? { countWebhookBacklog: () => stores.webhooks.countPending() } : {}),
      })
    const recorder = createEventRecorder({ store: stores.authEvents, clock, logger: options.logger, metrics })
    const events = options.events ?? recorder
    const keyRing = await loadKeyRing(config, { stores, secret, clock, events, logger: options.logger })
    await warnOfEmailKeyConflicts(stores, options.logger)
    const mailer = options.mailer ?? createMailer({ config, logger: options.logger })
    const limits = createLimits(
      config,
      config.rateLimit
        ? createLimiterStore({
            clock,
            db: database.db,
            redis,
            redisPrefix: config.redisPrefix,
            logger: options.logger,
          })
        : undefined,
    )
    const deps: FlowDeps = {
      stores,
      keyRing,
      hasher: gateHashing(options.hasher ?? createPasswordHasher(), {
        concurrency: config.hashing.concurrency,
        pressure: loopPressure,
        maxQueue: config.hashing.maxQueue,
        maxWaitMs: config.hashing.maxWait * 1000,
        gauges: { running: metrics.hashInFlight, queued: metrics.hashQueued },
      }),
      policy: createPasswordPolicy(config),
      mailer,
      events,
      limits,
      clock,
      config,
      totpKeys: totpWrappingKeys(secret, config.secretPrevious),
      providers: createProviderDirectory(config.oauthProviders, {
        clock,
        stateKey: deriveKey(secret, 'oauth-sign-in-state v1'),
        metrics,
      }),
    }
    const app = await buildApp({
      ...deps,
      ping: database.ping,
      redis,
      logger: options.logger,
      metrics,
      revocationFeed,
      revocationHeartbeatMs: options.revocationHeartbeatMs,
    })
    const housekeeping = config.housekeeping
      ? startHousekeeping({
          store: createHousekeepingStore(database.db, { embedded: database.embedded === true }),
          clock,
          config,
          logger: options.logger,
          tasks: [
            auditRetentionTask(config),
            revocationEventsTask,
            webauthnChallengesTask,
            mfaTokensTask,
            webhookOutboxTask(config),
          ],
        })
      : undefined
    // never on the request path: a loop of its own sends what the flows' transactions wrote
    const webhooks =
      config.webhookUrl && config.webhookSecret
        ? startWebhookDelivery(
            {
              store: createWebhookStore(database.db, { clock }),
              clock,
              config: { ...config, webhookUrl: config.webhookUrl, webhookSecret: config.webhookSecret },
              metrics,
              logger: options.logger,
            },
            { background: options.webhookLoop ?? true },
          )
        : undefined
    return {
      app,
      deps,
      database,
      metrics,
      housekeeping,
      webhooks,
      redis,
      async close() {
        await app.close()
        loopPressure?.stop()
        // attempts under way are cut short; their events stay in the outbox for the next start
        await webhooks?.stop()
        await revocationFeed.close()
        keyRing.close()
        limits.close()
        await redis?.close()
        // a run under way finishes before the database closes under it
        await housekeeping?.stop()
        // audit rows still being written land before the database closes
        await recorder.flush()
        // queued mail goes out (or gives up, logged) before the process ends
        await mailer.close()
        if (!options.database) await database.close()
        await lock?.release()
      },
    }
  } catch (error) {
    loopPressure?.stop()
    await redis?.close()
    if (!options.database) await database.close()
    await lock?.release()
    throw error
  }
}
