// `npm run build`, after tsc: the CLI as a few files instead of the ~2,000 ES modules it loads.
// Node spent about half of a server's start-up finding, reading and linking them one by one
// (kysely alone is ~1,000 files, typebox ~750); bundled, `tessera serve` is ready sooner and holds
// less memory idle (docs/benchmarks.md, Latest results). dist/cli.js then only imports the bundle.
//
// Bundled: Tessera's own code and the packages every server loads at start-up, pure JavaScript
// without files of their own to find at run time. Left to Node: native addons, packages that read
// files beside their code (PGlite's WebAssembly, swagger-ui's pages, pino's worker transports), and
// what the server loads only at first use (those stay out of an idle server's memory, and the
// packages test in test/cli/idle-modules.test.ts still sees them loaded or not).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { build } from 'esbuild'

// the ES-module packages a server loads at start-up, as measured with a resolve hook: kysely (1,007
// modules), typebox (746), jose (185), openid-client and oauth4webapi. CommonJS packages load fast
// enough from node_modules: bundling fastify and the rest too changed neither time nor memory
const BUNDLED = new Set(['kysely', '@sinclair/typebox', 'jose', 'openid-client', 'oauth4webapi'])

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
const packageOf = (specifier) => {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

const dist = new URL('../dist/', import.meta.url)
const outdir = new URL('bundle/', dist)
const started = performance.now()
await rm(outdir, { recursive: true, force: true })
// bundled from tsc's output: the code that runs is the code tsc checked and emitted
const entry = new URL('cli.js', dist)
if ((await readFile(entry, 'utf8')).includes('./bundle/cli.js'))
  throw new Error('dist/cli.js is the bundle loader already: run tsc first')
const result = await build({
  entryPoints: [entry.pathname],
  outdir: outdir.pathname,
  write: false,
  bundle: true,
  // the commands and the packages loaded at first use stay dynamic imports: chunks of their own
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // names stay (error classes are told apart by name in logs); whitespace too: readable stacks
  keepNames: true,
  // every output file one level below dist/, as tsc's src/store/ is: code that finds a file from
  // its own module (the data-dir template: ../data-dir-template.tar.gz) finds the same one
  chunkNames: 'chunk-[hash]',
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
  plugins: [
    {
      name: 'bundle-only-listed-packages',
      setup(builder) {
        builder.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:')) return { external: true }
          return BUNDLED.has(packageOf(args.path)) ? undefined : { external: true }
        })
      },
    },
  ],
})
await mkdir(outdir, { recursive: true })
for (const file of result.outputFiles) await writeFile(file.path, file.contents)
await writeFile(
  entry,
  [
    '#!/usr/bin/env node',
    '// the CLI, bundled by scripts/bundle.mjs (the modules tsc emitted beside this file are the library)',
    "import './bundle/cli.js'",
    '',
  ].join('\n'),
)
const bytes = result.outputFiles.reduce((sum, file) => sum + file.contents.byteLength, 0)
const inputs = Object.keys(result.metafile.inputs).length
const ms = Math.round(performance.now() - started)
console.log(
  `bundle dist/bundle: ${inputs} modules in ${result.outputFiles.length} files, ${Math.round(bytes / 1024)} KiB (${ms} ms)`,
)
