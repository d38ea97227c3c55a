import { spawnSync } from 'node:child_process'
import { ROOT_DIR } from './children.js'

/**
 * Builds the given workspaces (`npm run build -w …`), as the harnesses do before they start
 * `tessera serve` from dist/. False, with the build's output logged, when it failed.
 */
export function buildWorkspaces(workspaces: readonly string[], log: (line: string) => void): boolean {
  const build = spawnSync('npm', ['run', 'build', ...workspaces.flatMap((name) => ['-w', name])], {
    cwd: ROOT_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 180_000,
  })
  if (build.status === 0) return true
  log(
    `${build.stdout}${build.stderr}\nthe build failed; fix it, or run with --no-build to use the dist/ there is`,
  )
  return false
}
