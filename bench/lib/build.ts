import { spawn } from 'node:child_process'
import { readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT_DIR } from './children.js'

// the stamp e2e/helpers/build.ts writes too: a build made by either lets the other skip its own
const STAMP = '.e2e-build-stamp'

/** packages/<name> of a workspace named `@tessera/<name>`. */
const packageDir = (workspace: string): string =>
  join(ROOT_DIR, 'packages', workspace.replace(/^@tessera\//, ''))

/**
 * Builds the given workspaces (`npm run build -w …`, side by side: each is mostly one thread of
 * tsc), as the harnesses do before they start `tessera serve` from dist/. Skipped when every one's
 * dist/ holds a build stamp newer than everything its build reads. False, with the build's output
 * logged, when it failed.
 */
export async function buildWorkspaces(
  workspaces: readonly string[],
  log: (line: string) => void,
): Promise<boolean> {
  const stale = []
  for (const workspace of workspaces) if (!(await upToDate(packageDir(workspace)))) stale.push(workspace)
  if (stale.length === 0) {
    log(`  ${workspaces.join(' and ')}: dist/ is up to date, not rebuilt`)
    return true
  }
  const builds = await Promise.all(stale.map((workspace) => build(workspace)))
  const failed = builds.filter((result) => result.code !== 0)
  if (failed.length === 0) {
    const at = `${new Date().toISOString()}\n`
    await Promise.all(stale.map((workspace) => writeFile(join(packageDir(workspace), 'dist', STAMP), at)))
    return true
  }
  log(
    `${failed.map((result) => result.output).join('\n')}\nthe build failed; fix it, or run with --no-build to use the dist/ there is`,
  )
  return false
}

function build(workspace: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', 'build', '-w', workspace], {
      cwd: ROOT_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      // bounded, but generous: tsc took over 3 minutes on a 2-core machine busy with other work
      timeout: 600_000,
    })
    let output = ''
    const keep = (chunk: Buffer) => {
      output += chunk.toString()
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', (error) => resolve({ code: -1, output: `${output}${String(error)}` }))
    child.on('close', (code, signal) =>
      resolve({ code, output: signal ? `${output}\n${workspace}: build stopped (${signal})` : output }),
    )
  })
}

async function upToDate(dir: string): Promise<boolean> {
  const built = await mtime(join(dir, 'dist', STAMP))
  if (built === undefined) return false
  const inputs = [
    join(dir, 'package.json'),
    join(dir, 'tsconfig.build.json'),
    join(ROOT_DIR, 'tsconfig.base.json'),
    ...(await files(join(dir, 'src'))),
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
