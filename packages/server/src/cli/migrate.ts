import type { Config } from '../config.js'
import type { CliIo } from './io.js'
import { withStores } from './with-stores.js'

/** `tessera migrate`: applies pending migrations and names them. */
export function migrate(config: Config, io: CliIo): Promise<number> {
  return withStores(config, 'migrate', async (_stores, results) => {
    const applied = results.filter((result) => result.status === 'Success')
    io.stdout.write(
      applied.length === 0
        ? 'Database is up to date.\n'
        : `Applied ${applied.map((r) => r.migrationName).join(', ')}\n`,
    )
  })
}
