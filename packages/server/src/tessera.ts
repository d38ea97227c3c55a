import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { type Clock, systemClock } from './clock.js'
import { type Config, ConfigError } from './config.js'
import { type DataDirLock, lockDataDir } from './data-dir-lock.js'
import type { FlowDeps } from './flows/deps.js'
import { buildApp } from './http/app.js'
import { createKeyRing, keyWrappingKey } from './keys/key-ring.js'
import { loadOrCreateDevSecret, unseal } from './keys/secret.js'
import { type AuthEvents, noEvents } from './events.js'
import type { Mailer } from './mail/mail.js'
import { createMailer } from './mail/mailer.js'
import { createPasswordHasher, type PasswordHasher } from './passwords/hasher.js'
import { createPasswordPolicy } from './passwords/policy.js'
import { type DatabaseHandle, openDatabase } from './store/db.js'
import { migrateToLatest } from './store/migrate.js'
import type { SigningKeyStore } from './store/signing-keys.js'
import { createStores } from './store/stores.js'

export interface Tessera {
  app: FastifyInstance
  deps: FlowDeps
  database: DatabaseHandle
  /** Closes the HTTP server (draining requests), the key ring timer, the database and the data-dir lock. */
  close(): Promise<void>
}

export interface TesseraOptions {
  logger: Logger | false
  clock?: Clock
  hasher?: PasswordHasher
  /** Sends mail; the default is SMTP at SMTP_URL, or the log without it. */
  mailer?: Mailer
  /** Where flows report auth events (audit log, metrics). */
  events?: AuthEvents
  /** An open database to use instead of opening `config.database` (tests). */
  database?: DatabaseHandle
  /** What this process is, recorded in the data-dir lock: `serve`, `migrate`, … */
  command?: string
  /** Called if the data-dir lock is lost (its file removed or taken over); the default exits. */
  onLockCompromised?: (error: Error) => void
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

/**
 * Refuses a secret that cannot decrypt the current signing key in the database: a server could not
 * sign with it, and a key that `keys rotate` sealed under it would stop every server at its next start.
 */
export async function assertSecretOpensSigningKeys(
  config: Config,
  store: SigningKeyStore,
  secret: string,
): Promise<void> {
  // the newest key: the one that signs, or is about to
  const [current] = await store.listAll()
  if (!current) return
  try {
    await unseal(keyWrappingKey(secret), current.private_jwe)
  } catch {
    const which = config.secret
      ? 'does not'
      : `is not set, and the development secret in ${join(config.dataDir, 'secret')} does not`
    throw new ConfigError(
      'TESSERA_SECRET',
      `${which} decrypt the signing key ${current.kid} in the database. ` +
        'Use the secret the keys were made with (the one the servers run with).',
    )
  }
}

/** Opens the database (holding the data-dir lock for the embedded one), migrates, loads the key ring. */
export async function openTesseraDatabase(
  config: Config,
  options: Pick<TesseraOptions, 'database' | 'command' | 'onLockCompromised' | 'logger'> & {
    migrate?: boolean
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
    const database = options.database ?? (await openDatabase(config.database))
    if (options.migrate ?? config.migrateOnStart) await migrateToLatest(database.db)
    return { database, lock }
  } catch (error) {
    await lock?.release()
    throw error
  }
}

/** Wires a whole server from its configuration. Listening is left to the caller. */
export async function createTessera(config: Config, options: TesseraOptions): Promise<Tessera> {
  const clock = options.clock ?? systemClock
  // the data-dir lock first: a server refused for it must not warn about, or create, a secret
  const { database, lock } = await openTesseraDatabase(config, options)
  try {
    const secret = await resolveSecret(config, options.logger)
    const stores = createStores(database.db)
    if (config.signingAlg !== 'HS256') await assertSecretOpensSigningKeys(config, stores.signingKeys, secret)
    const keyRing = await createKeyRing({
      store: stores.signingKeys,
      secret,
      clock,
      config,
      onError: (error) => {
        if (options.logger)
          options.logger.error({ err: error }, 'key ring reload failed; keeping the keys loaded before')
      },
    })
    const mailer = options.mailer ?? createMailer({ config, logger: options.logger })
    const deps: FlowDeps = {
      stores,
      keyRing,
      hasher: options.hasher ?? createPasswordHasher(),
      policy: createPasswordPolicy(config),
      mailer,
      events: options.events ?? noEvents,
      clock,
      config,
    }
    const app = await buildApp({ ...deps, ping: database.ping, logger: options.logger })
    return {
      app,
      deps,
      database,
      async close() {
        await app.close()
        keyRing.close()
        // queued mail goes out (or gives up, logged) before the process ends
        await mailer.close()
        if (!options.database) await database.close()
        await lock?.release()
      },
    }
  } catch (error) {
    if (!options.database) await database.close()
    await lock?.release()
    throw error
  }
}
