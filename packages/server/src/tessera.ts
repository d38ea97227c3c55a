import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { type Clock, systemClock } from './clock.js'
import type { Config } from './config.js'
import { type DataDirLock, lockDataDir } from './data-dir-lock.js'
import type { FlowDeps } from './flows/deps.js'
import { buildApp } from './http/app.js'
import { createKeyRing } from './keys/key-ring.js'
import { loadOrCreateDevSecret } from './keys/secret.js'
import { createPasswordHasher, type PasswordHasher } from './passwords/hasher.js'
import { type DatabaseHandle, openDatabase } from './store/db.js'
import { migrateToLatest } from './store/migrate.js'
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
  const secret = await resolveSecret(config, options.logger)
  const { database, lock } = await openTesseraDatabase(config, options)
  try {
    const stores = createStores(database.db)
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
    const deps: FlowDeps = {
      stores,
      keyRing,
      hasher: options.hasher ?? createPasswordHasher(),
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
