import type { Logger } from 'pino'
import { createEventRecorder } from '../audit/recorder.js'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import { createStores } from '../store/stores.js'
import { loadKeyRing, openTesseraDatabase, resolveSecret } from '../tessera.js'

/**
 * What a `serve --workers` primary does once before it forks: migrate, check TESSERA_SECRET against
 * the signing keys and load the key ring (making the first key, or the scheduled rotation), so N
 * workers do not start by racing for the same locks. Workers still take those locks, and find
 * nothing to do. It holds no connection afterwards: only the workers use the database.
 */
export async function prepareDatabase(config: Config, logger: Logger): Promise<void> {
  const { database } = await openTesseraDatabase(config, { command: 'serve', logger })
  try {
    // also writes the development secret into the data dir, before workers all try to read it
    const secret = await resolveSecret(config, false)
    const stores = createStores(database.db, { accessTokenTtl: config.accessTokenTtl })
    const recorder = createEventRecorder({ store: stores.authEvents, clock: systemClock, logger })
    try {
      // the workers say what they find about TESSERA_SECRET_PREVIOUS: the primary keeps quiet
      const keyRing = await loadKeyRing(config, {
        stores,
        secret,
        clock: systemClock,
        events: recorder,
        logger: false,
      })
      keyRing.close()
    } finally {
      await recorder.flush()
    }
  } finally {
    await database.close()
  }
}
