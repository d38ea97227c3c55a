import { createEventRecorder } from '../audit/recorder.js'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import type { AuthEvents } from '../events.js'
import { publishWakeUp } from '../revocations/wake-up.js'
import type { Db } from '../store/db.js'
import { migrateToLatest } from '../store/migrate.js'
import { createStores, type Stores } from '../store/stores.js'
import { openTesseraDatabase } from '../tessera.js'

/** Opens the database as the CLI does (migrating first, under the data-dir lock for PGlite). */
export async function withStores(
  config: Config,
  command: string,
  work: (
    stores: Stores,
    migrations: Awaited<ReturnType<typeof migrateToLatest>>,
    db: Db,
    /** The embedded database (DatabaseHandle.embedded). */
    embedded: boolean,
  ) => Promise<void>,
): Promise<number> {
  const { database, lock } = await openTesseraDatabase(config, { command, logger: false, migrate: false })
  // a revocation written here (disable, roles, client revoked) is found by running instances at
  // their next poll; with Redis they are woken once the command is done, as an instance wakes them
  let revoked = false
  try {
    const results = await migrateToLatest(database.db)
    // a command's changes (users create, roles, disable, …) enqueue their webhook events as the server's do
    const stores = createStores(database.db, {
      accessTokenTtl: config.accessTokenTtl,
      onRevocation: () => {
        revoked = true
      },
      webhooks: config.webhookUrl ? { clock: systemClock } : undefined,
    })
    await work(stores, results, database.db, database.embedded === true)
    return 0
  } finally {
    await database.close()
    await lock?.release()
    // after the database and its lock are let go (a slow Redis holds neither); also after a
    // failure: what committed before it is as revoked
    if (revoked && config.redisUrl) await publishWakeUp(config.redisUrl, config.redisPrefix)
  }
}

/** Runs a command with the audit log as its events, written before the command exits. */
export async function withEvents<T>(stores: Stores, work: (events: AuthEvents) => Promise<T>): Promise<T> {
  const recorder = createEventRecorder({ store: stores.authEvents, clock: systemClock, logger: false })
  try {
    return await work(recorder)
  } finally {
    await recorder.flush()
  }
}
