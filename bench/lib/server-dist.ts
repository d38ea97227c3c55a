/**
 * Imports a module of the built server (packages/server/dist/<module>), typed as its source.
 * The bench's own Tessera processes (the token issuer, the session seeder) run the build, like
 * `tessera serve` does: its embedded databases then start from the migrated data-dir template the
 * build makes beside the code (`dist/data-dir-template.tar.gz`) instead of PGlite's initdb, and
 * tsx has no server sources to compile. Dynamic, so that `npm run lint` needs no build.
 */
export function fromServerDist<Module>(module: string): Promise<Module> {
  // found through the package (its entry is dist/index.js), not beside this file: the bench's
  // child scripts run compiled, from another folder (children.ts)
  return import(new URL(module, import.meta.resolve('@tessera/server')).href)
}
