#!/usr/bin/env node
// The `tessera` command. npm links bins at install time, which in a fresh clone of the repository
// comes before any build: this committed file gives the link a target, and says what to do when the
// CLI is not built yet instead of npx's "could not determine executable to run".
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('tessera: the CLI is not built yet: run `npm run build` in the Tessera repository\n')
  process.exit(1)
}
await import(cli.href)
