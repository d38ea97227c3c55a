// `npm run build`, after tsc: the migrated data dir a new embedded database is unpacked from
// (src/store/data-dir-template.ts); skipped while the migrations and PGlite stay the same.
import { DATA_DIR_TEMPLATE, makeDataDirTemplate } from '../dist/store/data-dir-template.js'

const started = performance.now()
const outcome = await makeDataDirTemplate()
const ms = Math.round(performance.now() - started)
console.log(`data-dir template ${DATA_DIR_TEMPLATE}: ${outcome} (${ms} ms)`)
