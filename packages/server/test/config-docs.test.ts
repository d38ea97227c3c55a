import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  CONFIG_DOCS_PATH,
  isProviderVariable,
  parseConfig,
  renderConfigDocs,
  SETTINGS,
  type Setting,
} from '../src/config.js'

const root = new URL('../../../', import.meta.url)
const STRONG_SECRET = 'Zq3v8N1xR7kPw2LmT9yB4cHd6FgJs0Ue'

/** The names parseConfig looks up in `env`, whether it accepts the environment or not. */
function variablesRead(env: Record<string, string>): Set<string> {
  const read = new Set<string>()
  const watched = new Proxy(env, {
    get(target, name) {
      if (typeof name === 'string') read.add(name)
      return Reflect.get(target, name)
    },
    has(target, name) {
      if (typeof name === 'string') read.add(name)
      return Reflect.has(target, name)
    },
  })
  try {
    parseConfig(watched, '/srv/tessera')
  } catch {
    // a refused environment reads its variables too
  }
  return read
}

describe('docs/configuration.md', () => {
  it('is what the table of settings renders', () => {
    const written = readFileSync(new URL(CONFIG_DOCS_PATH, root), 'utf8')
    expect(written, `${CONFIG_DOCS_PATH} differs from the table: run \`npm run docs:config\``).toBe(
      renderConfigDocs(),
    )
  })

  it('shows a default for every setting whose default is derived from others', () => {
    // widened: the literal table already has one, so the narrowed filter would be of nothing
    const settings: readonly Setting[] = SETTINGS
    const unshown = settings.filter(
      (s) => 'default' in s && typeof s.default === 'function' && !('shown' in s),
    )
    expect(unshown.map((s) => s.variable)).toEqual([])
  })
})

describe('the table of settings', () => {
  it('holds every variable parseConfig reads, and parseConfig reads every one of it', () => {
    const table = SETTINGS.map((s) => s.variable).sort()
    const environments: Record<string, string>[] = [
      {},
      { NODE_ENV: 'production' },
      { NODE_ENV: 'production', TESSERA_SECRET: STRONG_SECRET, TESSERA_PUBLIC_URL: 'https://a.example.com' },
      { TESSERA_SIGNING_ALG: 'HS256', TESSERA_HS256_SECRET: STRONG_SECRET, TESSERA_KEY_ROTATION: 'off' },
      { PORT: 'abc', TESSERA_DATA_DIR: '', UV_THREADPOOL_SIZE: '8', TESSERA_WORKERS: 'auto' },
    ]
    for (const env of environments) expect([...variablesRead(env)].sort()).toEqual(table)
  })

  it('holds every TESSERA_ variable the README and the docs pages name', () => {
    const table: string[] = SETTINGS.map((s) => s.variable)
    // the example API's and the SDK snippets' own variables, not the server's
    const others = ['TESSERA_URL', 'TESSERA_CLIENT_ID', 'TESSERA_CLIENT_SECRET']
    const pages = [
      'README.md',
      ...readdirSync(new URL('docs/', root))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/${name}`),
    ]
    const unknown = pages.flatMap((page) =>
      [...readFileSync(new URL(page, root), 'utf8').matchAll(/\bTESSERA_[A-Z0-9_]+/g)]
        .map(([name]) => name)
        // `TESSERA_LIMIT_*` names a family
        .filter(
          (name) => !(name.endsWith('_') ? table.some((v) => v.startsWith(name)) : table.includes(name)),
        )
        .filter((name) => !others.includes(name))
        // `TESSERA_OAUTH_ACME_ISSUER`: a provider's family, read beside the table
        .filter((name) => !isProviderVariable(name))
        .map((name) => `${page}: ${name}`),
    )
    expect(unknown).toEqual([])
  })

  it('names each variable and fills each field once', () => {
    const variables = SETTINGS.map((s) => s.variable)
    const fields = SETTINGS.map((s) => s.field)
    expect(new Set(variables).size).toBe(variables.length)
    expect(new Set(fields).size).toBe(fields.length)
  })
})
