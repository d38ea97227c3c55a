import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeDataDirTemplate, unpackDataDirTemplate } from '../../src/store/data-dir-template.js'
import { openDatabase } from '../../src/store/db.js'
import { MIGRATION_NAMES } from '../../src/store/migrate.js'

// `npm run build` makes the template; a new embedded data dir is unpacked from it instead of
// running initdb (issue 21). These tests make one in a temporary folder, as the build does.
let root: string
let template: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-template-'))
  template = join(root, 'data-dir-template.tar.gz')
  expect(await makeDataDirTemplate(template)).toBe('made')
}, 120_000)

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('the data-dir template', () => {
  it('is not made again while the migrations and PGlite stay the same', async () => {
    expect(await makeDataDirTemplate(template)).toBe('up to date')
  })

  it('unpacks into a new data dir that opens with every migration applied and no staging left', async () => {
    const dir = join(root, 'new', 'pgdata')
    expect(await unpackDataDirTemplate(dir, template)).toBe(true)
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true)
    expect((await readdir(join(root, 'new'))).sort()).toEqual(['pgdata'])

    const database = await openDatabase({ kind: 'pglite-dir', dir })
    try {
      const { rows } = await sql<{ name: string }>`select name from tessera_migrations order by name`.execute(
        database.db,
      )
      expect(rows.map((row) => row.name)).toEqual([...MIGRATION_NAMES])
      // the database is usable, not just readable
      await sql`create table scratch (id int)`.execute(database.db)
      await sql`insert into scratch values (1)`.execute(database.db)
    } finally {
      await database.close()
    }
  })

  it('leaves a data dir that holds anything alone', async () => {
    const dir = join(root, 'busy')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'notes.txt'), 'mine')
    expect(await unpackDataDirTemplate(dir, template)).toBe(false)
    expect(await readdir(dir)).toEqual(['notes.txt'])
  })

  it('is ignored when another PGlite version made it', async () => {
    const other = join(root, 'other.tar.gz')
    await writeFile(other, await readFile(template))
    const stamp = JSON.parse(await readFile(`${template}.json`, 'utf8')) as Record<string, string>
    await writeFile(`${other}.json`, JSON.stringify({ ...stamp, pglite: '0.0.1' }))
    const dir = join(root, 'other-version')
    expect(await unpackDataDirTemplate(dir, other)).toBe(false)
    expect(existsSync(dir)).toBe(false)
  })

  it('is ignored when missing or broken, leaving neither a data dir nor a staging folder', async () => {
    expect(await unpackDataDirTemplate(join(root, 'none'), join(root, 'missing.tar.gz'))).toBe(false)

    const broken = join(root, 'broken.tar.gz')
    await writeFile(broken, 'not a tarball')
    await writeFile(`${broken}.json`, await readFile(`${template}.json`))
    const parent = join(root, 'broken-target')
    await mkdir(parent)
    expect(await unpackDataDirTemplate(join(parent, 'pgdata'), broken)).toBe(false)
    expect(await readdir(parent)).toEqual([])

    // cut short: tar may unpack the first half without complaint, but it is no data dir
    const truncated = join(root, 'truncated.tar.gz')
    const whole = await readFile(template)
    await writeFile(truncated, whole.subarray(0, 4096))
    await writeFile(`${truncated}.json`, await readFile(`${template}.json`))
    expect(await unpackDataDirTemplate(join(parent, 'pgdata'), truncated)).toBe(false)
    expect(await readdir(parent)).toEqual([])
  })
})
