// npm run docs:config: writes docs/configuration.md from the table of settings
// (packages/server/src/config/table.ts); test/config-docs.test.ts fails while the two differ.
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { CONFIG_DOCS_PATH, renderConfigDocs } from '../src/config.js'

const target = fileURLToPath(new URL(`../../../${CONFIG_DOCS_PATH}`, import.meta.url))
await writeFile(target, renderConfigDocs())
process.stdout.write(`wrote ${CONFIG_DOCS_PATH}\n`)
