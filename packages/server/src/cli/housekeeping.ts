import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import {
  auditRetentionTask,
  mfaTokensTask,
  revocationEventsTask,
  runHousekeeping,
  webauthnChallengesTask,
  webhookOutboxTask,
} from '../housekeeping.js'
import { createHousekeepingStore } from '../store/housekeeping.js'
import type { CliIo } from './io.js'
import { withStores } from './with-stores.js'

/** `tessera housekeeping`: one run now, as servers do every TESSERA_HOUSEKEEPING_INTERVAL. */
export function housekeeping(config: Config, args: string[], io: CliIo): Promise<number> {
  parseArgs({ args, options: {}, strict: true })
  return withStores(config, 'housekeeping', async (_stores, _results, db, embedded) => {
    const report = await runHousekeeping({
      store: createHousekeepingStore(db, { embedded }),
      clock: systemClock,
      config,
      tasks: [
        auditRetentionTask(config),
        revocationEventsTask,
        webauthnChallengesTask,
        mfaTokensTask,
        webhookOutboxTask(config),
      ],
    })
    if (report.status === 'skipped') {
      io.stdout.write('Skipped: another instance is running housekeeping right now.\n')
      return
    }
    const counts = Object.entries(report.deleted).map(([what, count]) => `${what} ${count}`)
    io.stdout.write(`Deleted: ${counts.join(', ')}\n`)
    // the deletions committed either way: said first, then the vacuum's failure fails the command
    if (report.vacuumError !== undefined) throw report.vacuumError
    if (report.vacuumed > 0) io.stdout.write(`Vacuumed ${report.vacuumed} tables (the embedded database).\n`)
  })
}
