import { createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import type { Config } from '../config.js'
import { createUserTransferStore, type ExportedUser } from '../store/user-transfer.js'
import type { CliIo, CliOutput } from './io.js'
import { withStores } from './with-stores.js'

export const EXPORT_USAGE = 'Usage: tessera users export [--include-hashes] [--output FILE]\n'

/** Accounts read per query: the export holds one page in memory, whatever the table's size. */
const PAGE = 1000

/**
 * `tessera users export`: every account as a JSONL row of `tessera users import` (so the file
 * imports again as it is), in id order, a page at a time by keyset (`id > last`). Password hashes
 * only with `--include-hashes`, and then an `--output` file is made readable by its owner only.
 */
export async function exportUsers(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { 'include-hashes': { type: 'boolean' }, output: { type: 'string' } },
    strict: true,
  })
  const withHashes = values['include-hashes'] === true
  let exported = 0
  const started = performance.now()
  const code = await withStores(config, 'users export', async (_stores, _migrations, db) => {
    const store = createUserTransferStore(db)
    const file =
      values.output === undefined
        ? undefined
        : createWriteStream(values.output, { flags: 'w', mode: withHashes ? 0o600 : 0o644 })
    const out: CliOutput = file ?? io.stdout
    try {
      let after: string | undefined
      for (;;) {
        const page = await store.exportPage(after, PAGE)
        if (page.length === 0) break
        await write(out, page.map((user) => `${JSON.stringify(exportRow(user, withHashes))}\n`).join(''))
        exported += page.length
        after = page.at(-1)?.id
        if (page.length < PAGE) break
      }
    } finally {
      if (file) {
        file.end()
        await finished(file)
      }
    }
  })
  const seconds = (performance.now() - started) / 1000
  io.stderr.write(
    `Exported ${exported} users${withHashes ? ' with their password hashes' : ''}` +
      `${values.output === undefined ? '' : ` to ${values.output}`} in ${seconds.toFixed(1)} s\n`,
  )
  return code
}

/** An account as an import row: absent fields are the import's defaults (no name, no metadata). */
function exportRow(user: ExportedUser, withHashes: boolean): Record<string, unknown> {
  return {
    email: user.email,
    ...(user.name === null ? {} : { name: user.name }),
    roles: user.roles,
    emailVerified: user.emailVerified,
    createdAt: user.createdAt.toISOString(),
    ...(Object.keys(user.appMetadata).length === 0 ? {} : { appMetadata: user.appMetadata }),
    ...(withHashes && user.passwordHash !== null ? { passwordHash: user.passwordHash } : {}),
  }
}

/** Writes and, on a stream that asks to (a full pipe, a slow disk), waits for it to drain. */
async function write(out: CliOutput, text: string): Promise<void> {
  const accepted = out.write(text)
  const stream = out as Partial<NodeJS.WritableStream>
  if (accepted === false && typeof stream.once === 'function') {
    await new Promise((resolve) => stream.once?.('drain', resolve))
  }
}
