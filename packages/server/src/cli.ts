#!/usr/bin/env node
import { run } from './cli/main.js'

// the process entry: the commands read and write only what they are given (src/cli/main.ts)
process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
})
