import { randomBytes } from 'node:crypto'
import { access, mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from './wait.js'

export interface SharedTemplateOptions {
  /** Names every version of this template in the temp dir, e.g. `tessera-test-pglite-`. */
  prefix: string
  /** What the template is made from (a hash): a change makes a new one, the old one is removed later. */
  key: string
  /** For the timeout message while another worker makes it. */
  what: string
  /** Writes the template (a file or a directory) at `staging`. */
  make(staging: string): Promise<void>
}

/**
 * The path of a template made once and shared by every test worker, and by the runs after, until
 * its key changes: one worker makes it while the others wait (two initdbs at once on two cores
 * cost everyone), and it appears by an atomic rename, so a template that exists is complete.
 */
export async function sharedTemplate(options: SharedTemplateOptions): Promise<string> {
  const { prefix, key } = options
  const path = join(tmpdir(), `${prefix}${key}`)
  if (await exists(path)) return path
  const making = `${path}.making`
  // a marker left by a run that was killed while making it
  const markerAge = await stat(making).then(
    (marker) => Date.now() - marker.mtimeMs,
    () => 0,
  )
  if (markerAge > 120_000) await rm(making, { recursive: true, force: true })
  try {
    await mkdir(making)
  } catch {
    const made = await waitFor(
      async () => ((await exists(path)) ? true : (await exists(making)) ? undefined : false),
      `another test worker to make ${options.what}`,
      90_000,
      100,
    )
    if (made) return path
    // the maker failed: make it here
  }
  const staging = join(tmpdir(), `tessera-test-staging-${randomBytes(6).toString('hex')}`)
  try {
    await options.make(staging)
    // if another run was first, use theirs
    await rename(staging, path).catch(() => {})
  } finally {
    await rm(staging, { recursive: true, force: true })
    await rm(making, { recursive: true, force: true })
  }
  // other versions are garbage once nobody can be copying them any more
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(prefix) || name.startsWith(`${prefix}${key}`)) continue
    const other = join(tmpdir(), name)
    const age = Date.now() - (await stat(other).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs
    if (age > 3_600_000) await rm(other, { recursive: true, force: true })
  }
  return path
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
