import { spawn } from 'node:child_process'
import { access, readdir, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * vitest globalSetup: compiles the server once (`tsc -p tsconfig.build.json`, then the CLI's bundle) so the CLI tests can
 * spawn `node dist/cli.js` as a user would. Skipped when nothing the build reads changed since the
 * last successful build of this setup or of the e2e setup's `npm run build`.
 */
const serverRoot = fileURLToPath(new URL('../..', import.meta.url))
const stampPath = join(serverRoot, 'dist', '.test-build-stamp')
// written by e2e/helpers/build.ts after its `npm run build`, which compiles the server too
const packagesStampPath = join(serverRoot, 'dist', '.e2e-build-stamp')
const inputs = [
  join(serverRoot, 'tsconfig.build.json'),
  join(serverRoot, '..', '..', 'tsconfig.base.json'),
  join(serverRoot, 'package.json'),
  join(serverRoot, 'scripts', 'bundle.mjs'),
]

export default async function setup(): Promise<void> {
  if (await upToDate()) return
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const started = Date.now()
  const { code, output } = await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'])
  // 2: type errors, but the JavaScript was emitted. Type errors are `tsc --noEmit`'s business
  // (npm run lint); the CLI tests can still test behaviour, so warn and go on.
  if (code !== 0 && !(code === 2 && (await exists(join(serverRoot, 'dist', 'cli.js'))))) {
    throw new Error(
      `tsc -p tsconfig.build.json failed (exit ${code}, ${Date.now() - started} ms):\n${output}`,
    )
  }
  if (code === 2)
    process.stderr.write(`\n[build] tsc reported type errors (JavaScript emitted anyway):\n${output}\n`)
  // the CLI as it ships: bundled (the data-dir template, the build's last step, is tested on its own)
  const bundled = await run(process.execPath, ['scripts/bundle.mjs'])
  if (bundled.code !== 0)
    throw new Error(`scripts/bundle.mjs failed (exit ${bundled.code}):\n${bundled.output}`)
  if (code === 0) await writeFile(stampPath, `${new Date().toISOString()}\n`)
}

async function upToDate(): Promise<boolean> {
  const stamps = await Promise.all(
    [stampPath, packagesStampPath].map((path) =>
      stat(path).then(
        (stamped) => stamped.mtimeMs,
        () => 0,
      ),
    ),
  )
  const built = Math.max(...stamps)
  if (built === 0 || !(await exists(join(serverRoot, 'dist', 'cli.js')))) return false
  const sources = (await readdir(join(serverRoot, 'src'), { recursive: true })).map((name) =>
    join(serverRoot, 'src', name),
  )
  try {
    for (const path of [...sources, ...inputs]) {
      if ((await stat(path)).mtimeMs > built) return false
    }
  } catch {
    return false // a file went away while we looked: build
  }
  return true
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: serverRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
