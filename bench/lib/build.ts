import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
// the stamp e2e/helpers/build.ts writes too: a build made by either lets the other skip its own
import { BUILD_STAMP as STAMP, packageUpToDate as upToDate } from '../../e2e/helpers/build.js'
import { ROOT_DIR } from './children.js'

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
