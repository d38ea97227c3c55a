import { spawn } from 'node:child_process'
import { readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const PACKAGES = ['server', 'middleware', 'client'].map((name) => join(root, 'packages', name))
const STAMP = '.e2e-build-stamp'

/**
 * vitest globalSetup: `npm run build` (every workspace's tsc), as a user would before starting
 * them; skipped when every package's dist/ is newer than everything its build reads (CI builds
 * once, and a second run of the suite does not rebuild).
 */
export default async function setup(): Promise<void> {
  if (await upToDate()) return
  const child = spawn('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk) => {
    output += chunk
  })
  child.stderr.on('data', (chunk) => {
    output += chunk
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`npm run build failed (exit ${code}):\n${output}`)
  const at = `${new Date().toISOString()}\n`
  await Promise.all(PACKAGES.map((dir) => writeFile(join(dir, 'dist', STAMP), at)))
}

async function upToDate(): Promise<boolean> {
  for (const dir of PACKAGES) if (!(await packageUpToDate(dir))) return false
  return true
}

/** The stamp a build writes into each package's dist/ (here and in bench/lib/build.ts). */
export const BUILD_STAMP = STAMP

/** True when `dir`'s dist/ holds a build stamp newer than everything its build reads. */
export async function packageUpToDate(dir: string): Promise<boolean> {
  const built = await mtime(join(dir, 'dist', STAMP))
  if (built === undefined) return false
  const inputs = [
    join(dir, 'package.json'),
    join(dir, 'tsconfig.build.json'),
    join(root, 'tsconfig.base.json'),
    ...(await files(join(dir, 'src'))),
    // the server's build also runs scripts/ (the data-dir template)
    ...(await files(join(dir, 'scripts')).catch(() => [])),
  ]
  for (const input of inputs) {
    if (((await mtime(input)) ?? Number.POSITIVE_INFINITY) > built) return false
  }
  return true
}

async function mtime(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs
  } catch {
    return undefined
  }
}

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const nested = await Promise.all(
    entries.map((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)])),
  )
  return nested.flat()
}
