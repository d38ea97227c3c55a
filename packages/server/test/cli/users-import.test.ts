import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hash as argon2Hash } from '@node-rs/argon2'
import { hash as bcryptHash } from '@node-rs/bcrypt'
import { decodeJwt } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli, startServerInProcess, stopInProcessServers } from '../helpers/cli.js'
import { freshPostgresUrl, TEST_DATABASE_URL } from '../helpers/database.js'
import {
  cleanupProcesses,
  type Env,
  login,
  preparedDataDir,
  requestJson,
  tempDir,
} from '../helpers/process.js'

const drops: (() => Promise<void>)[] = []
afterEach(async () => {
  await stopInProcessServers()
  await cleanupProcesses()
  await Promise.all(drops.splice(0).map((drop) => drop()))
})

/** A new empty Tessera database: a PostgreSQL one when TEST_DATABASE_URL is set, else a PGlite data dir. */
async function freshTarget(): Promise<Env> {
  const postgres = await freshPostgresUrl()
  if (!postgres) return { TESSERA_DATA_DIR: await preparedDataDir() }
  drops.push(postgres.drop)
  return { DATABASE_URL: postgres.url, TESSERA_SECRET: 'users-import-test-secret-0123456789-abcdefgh' }
}

// 2 is a usage error: an import that refused rows exits 3
const SOME_REJECTED = 3

// argon2 at its cheapest for the fixtures: weaker than the server's OWASP parameters, so upgraded too
const ARGON2_CHEAP = { memoryCost: 1024, timeCost: 1, parallelism: 1 }
const ARGON2ID = 2
const ARGON2I = 1
// Django's own known vector (its PBKDF2 test): make_password('lètmein', 'seasalt') at 1,000,000 iterations
const DJANGO_PASSWORD = 'lètmein'
const DJANGO_HASH = 'pbkdf2_sha256$1000000$seasalt$r1uLUxoxpP2Ued/qxvmje7UH9PUJBkRrvf9gGPL7Cps='
// what Tessera stores after an upgrade: argon2id with OWASP's parameters
const UPGRADED = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/

const bcryptWith = async (prefix: string, password: string) =>
  (await bcryptHash(password, 4)).replace(/^\$2[aby]\$/, prefix)

interface Legacy {
  email: string
  password: string
  passwordHash: string
}

async function legacyUsers(): Promise<Legacy[]> {
  return [
    {
      email: 'bcrypt-2a@example.com',
      password: 'from php 2a',
      passwordHash: await bcryptWith('$2a$', 'from php 2a'),
    },
    {
      email: 'bcrypt-2b@example.com',
      password: 'from node 2b',
      passwordHash: await bcryptWith('$2b$', 'from node 2b'),
    },
    {
      email: 'bcrypt-2y@example.com',
      password: 'from php 2y',
      passwordHash: await bcryptWith('$2y$', 'from php 2y'),
    },
    {
      email: 'argon2id@example.com',
      password: 'from argon2id',
      passwordHash: await argon2Hash('from argon2id', { ...ARGON2_CHEAP, algorithm: ARGON2ID }),
    },
    {
      email: 'argon2i@example.com',
      password: 'from argon2i',
      passwordHash: await argon2Hash('from argon2i', { ...ARGON2_CHEAP, algorithm: ARGON2I }),
    },
    { email: 'django@example.com', password: DJANGO_PASSWORD, passwordHash: DJANGO_HASH },
  ]
}

const jsonl = (rows: unknown[]) =>
  rows.map((row) => (typeof row === 'string' ? row : JSON.stringify(row))).join('\n')

const readJsonl = async (path: string): Promise<Record<string, unknown>[]> => {
  const { readFile } = await import('node:fs/promises')
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line))
}

/** `tessera users export --include-hashes` as rows by email. */
async function exported(env: Env): Promise<Map<string, Record<string, unknown>>> {
  const result = await runCli(['users', 'export', '--include-hashes'], env)
  expect(result.code, result.stderr).toBe(0)
  const rows = result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
  return new Map(rows.map((row) => [String(row.email), row]))
}

describe(`tessera users import and export (${TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('imports bcrypt, argon2 and Django hashes that log in and become argon2id, rejects broken rows by line, and changes nothing on a second run', async () => {
    const env = await freshTarget()
    const dir = await tempDir()
    const users = await legacyUsers()
    const file = join(dir, 'users.jsonl')
    const rejects = join(dir, 'rejects.jsonl')
    await writeFile(
      file,
      `${jsonl([
        ...users.map(({ email, passwordHash }, index) => ({
          email,
          passwordHash,
          name: `Legacy ${index}`,
          roles: index === 0 ? ['admin', 'user'] : ['user'],
          emailVerified: true,
          createdAt: '2019-05-06T07:08:09.000Z',
          ...(index === 1 ? { appMetadata: { plan: 'pro', seats: 5 } } : {}),
        })),
        { email: 'no-password@example.com', name: 'Signs in by link' },
        '',
        { email: 'not an address', passwordHash: users[0]?.passwordHash }, // line 9
        { email: 'plain@example.com', password: 'hunter2 hunter2' }, // line 10
        { email: 'md5@example.com', passwordHash: '5f4dcc3b5aa765d61d8327deb882cf99' }, // line 11
        '{"email": "half@example.com", "passwordHash": ', // line 12
        { email: 'BCRYPT-2B@example.com', passwordHash: users[2]?.passwordHash }, // line 13
        { email: 'cost@example.com', passwordHash: `$2b$31$${'a'.repeat(53)}` }, // line 14
        { email: 'roles@example.com', roles: ['no spaces allowed'] }, // line 15
        { email: 'meta@example.com', appMetadata: { blob: 'x'.repeat(3000) } }, // line 16
      ])}\n`,
    )

    const first = await runCli(['users', 'import', file, '--rejects', rejects], env)
    expect(first.stderr).toContain('8 rows were rejected')
    expect(first.code).toBe(SOME_REJECTED)
    expect(first.stdout).toMatch(
      /^Imported 7, updated 0, skipped 0, rejected 8, in \d+\.\d s \(\d+ rows\/s\)\n$/,
    )
    const refused = await readJsonl(rejects)
    expect(refused).toEqual([
      { line: 9, reason: 'email is not an email address', email: 'not an address' },
      {
        line: 10,
        reason: 'a plaintext "password" is refused: give the old system\'s hash as passwordHash',
        email: 'plain@example.com',
      },
      {
        line: 11,
        reason: expect.stringMatching(/^passwordHash: not a recognised hash/),
        email: 'md5@example.com',
      },
      { line: 12, reason: 'not valid JSON' },
      {
        line: 13,
        reason: 'the email appears earlier in the file, on line 2',
        email: 'BCRYPT-2B@example.com',
      },
      { line: 14, reason: 'passwordHash: bcrypt cost 31 is outside 4 to 15', email: 'cost@example.com' },
      {
        line: 15,
        reason: expect.stringContaining('"no spaces allowed" is not a role name'),
        email: 'roles@example.com',
      },
      { line: 16, reason: 'appMetadata is larger than 2048 bytes as JSON', email: 'meta@example.com' },
    ])
    // the rejects file names rows, never their hashes
    const { readFile } = await import('node:fs/promises')
    const rejectsText = await readFile(rejects, 'utf8')
    expect(rejectsText).not.toContain('$2')
    expect(rejectsText).not.toContain('5f4dcc3b')

    // stored as given: the hash, name, roles, verification, creation time, metadata
    const before = await exported(env)
    expect([...before.keys()].sort()).toEqual(
      [...users.map((user) => user.email), 'no-password@example.com'].sort(),
    )
    for (const [index, user] of users.entries()) {
      expect(before.get(user.email)).toEqual({
        email: user.email,
        name: `Legacy ${index}`,
        roles: index === 0 ? ['admin', 'user'] : ['user'],
        emailVerified: true,
        createdAt: '2019-05-06T07:08:09.000Z',
        passwordHash: user.passwordHash,
        ...(index === 1 ? { appMetadata: { plan: 'pro', seats: 5 } } : {}),
      })
    }
    expect(before.get('no-password@example.com')).not.toHaveProperty('passwordHash')

    // interrupted or not, a second run finds every account there and changes none
    const second = await runCli(['users', 'import', file, '--rejects', rejects], env)
    expect(second.code).toBe(SOME_REJECTED)
    expect(second.stdout).toMatch(/^Imported 0, updated 0, skipped 7, rejected 8, in /)
    expect(await exported(env)).toEqual(before)

    const server = await startServerInProcess(env)
    for (const user of users) {
      expect((await login(server.url, user.email, `${user.password}!`)).status, user.email).toBe(401)
      const signedIn = await login(server.url, user.email, user.password)
      expect(signedIn.status, user.email).toBe(200)
      expect(decodeJwt(signedIn.body.accessToken).roles).toEqual(
        user === users[0] ? ['admin', 'user'] : ['user'],
      )
      // the upgraded hash verifies the same password
      expect((await login(server.url, user.email, user.password)).status, user.email).toBe(200)
    }
    // no hash, no password sign-in
    expect((await login(server.url, 'no-password@example.com', 'anything at all')).status).toBe(401)
    await server.stop()

    const after = await exported(env)
    for (const user of users) expect(after.get(user.email)?.passwordHash, user.email).toMatch(UPGRADED)
  })

  it('updates names, roles and metadata with --update but keeps a password the account has; --dry-run writes nothing', async () => {
    const env = await freshTarget()
    const dir = await tempDir()
    const original = await bcryptWith('$2b$', 'original password')
    const first = join(dir, 'first.jsonl')
    await writeFile(
      first,
      jsonl([
        {
          email: 'ada@example.com',
          name: 'Ada',
          roles: ['user'],
          emailVerified: true,
          passwordHash: original,
        },
        { email: 'bob@example.com', name: 'Bob', roles: ['user'] },
      ]),
    )
    const imported = await runCli(['users', 'import', first], env)
    expect(imported.code, imported.stderr).toBe(0)
    expect(imported.stdout).toMatch(/^Imported 2, updated 0, skipped 0, rejected 0, in /)
    // no rejected row, no rejects file
    await expect(stat(`${first}.rejects.jsonl`)).rejects.toThrow()
    const before = await exported(env)

    const changes = join(dir, 'changes.jsonl')
    const replacement = await bcryptWith('$2b$', 'another password')
    await writeFile(
      changes,
      jsonl([
        { email: 'ADA@example.com', name: 'Ada Lovelace', roles: ['admin'], passwordHash: replacement },
        { email: 'bob@example.com', appMetadata: { tenant: 't1' }, passwordHash: replacement },
        { email: 'cy@example.com', name: 'Cy' },
        { email: 'broken' },
      ]),
    )
    const dryRun = await runCli(['users', 'import', changes, '--update', '--dry-run'], env)
    expect(dryRun.code).toBe(SOME_REJECTED)
    expect(dryRun.stdout).toMatch(
      /^Dry run, nothing written: 1 new, 2 existing \(updated where the row differs\), 1 rejected, in /,
    )
    expect(await readJsonl(`${changes}.rejects.jsonl`)).toEqual([
      { line: 4, reason: 'email is not an email address', email: 'broken' },
    ])
    expect(await exported(env)).toEqual(before)

    // without --update, existing addresses are skipped
    await writeFile(changes, jsonl([{ email: 'ada@example.com', name: 'Not Ada' }]))
    const skipping = await runCli(['users', 'import', changes], env)
    expect(skipping.stdout).toMatch(/^Imported 0, updated 0, skipped 1, rejected 0, in /)
    expect(skipping.code).toBe(0)
    expect(await exported(env)).toEqual(before)

    // a token Ada holds before her roles change
    const earlierServer = await startServerInProcess(env)
    const ada = await login(earlierServer.url, 'ada@example.com', 'original password')
    expect(ada.status).toBe(200)
    expect(decodeJwt(ada.body.accessToken).roles).toEqual(['user'])
    await earlierServer.stop()

    await writeFile(
      changes,
      jsonl([
        { email: 'ADA@example.com', name: 'Ada Lovelace', roles: ['admin'], passwordHash: replacement },
        { email: 'bob@example.com', appMetadata: { tenant: 't1' }, passwordHash: replacement },
        { email: 'cy@example.com', name: 'Cy' },
      ]),
    )
    const updated = await runCli(['users', 'import', changes, '--update'], env)
    expect(updated.code, updated.stderr).toBe(0)
    expect(updated.stdout).toMatch(/^Imported 1, updated 2, skipped 0, rejected 0, in /)
    const after = await exported(env)
    expect(after.get('ada@example.com')).toMatchObject({
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      roles: ['admin'],
      // a hash from the old system never replaces a password the account has: here the argon2id
      // her login upgraded the imported bcrypt to
      passwordHash: expect.stringMatching(UPGRADED),
    })
    // Bob had no password: the file's hash is his first
    expect(after.get('bob@example.com')).toMatchObject({
      name: 'Bob',
      roles: ['user'],
      appMetadata: { tenant: 't1' },
      passwordHash: replacement,
    })
    expect(after.get('cy@example.com')).toMatchObject({ name: 'Cy', roles: ['user'], emailVerified: false })

    // the roles change made her older access tokens stale, as `tessera users roles` does; the
    // password she has still signs in, the file's hash does not
    const server = await startServerInProcess(env)
    expect((await requestJson(`${server.url}/auth/me`, { token: ada.body.accessToken })).status).toBe(401)
    expect((await login(server.url, 'ada@example.com', 'another password')).status).toBe(401)
    const relogin = await login(server.url, 'ada@example.com', 'original password')
    expect(relogin.status).toBe(200)
    expect(decodeJwt(relogin.body.accessToken).roles).toEqual(['admin'])
    await server.stop()
    const settled = await exported(env)

    const again = await runCli(['users', 'import', changes, '--update'], env)
    expect(again.stdout).toMatch(/^Imported 0, updated 0, skipped 3, rejected 0, in /)
    expect(await exported(env)).toEqual(settled)
  })

  it('--update gives no roles or verified address to an unverified account with a password of its own', async () => {
    const env = await freshTarget()
    // someone registered the address before the import, with a password of their own
    const server = await startServerInProcess(env)
    const squatter = await requestJson(`${server.url}/auth/register`, {
      method: 'POST',
      body: { email: 'boss@example.com', password: 'squatter password 1' },
    })
    expect(squatter.status).toBe(201)
    await server.stop()
    const before = await exported(env)

    const dir = await tempDir()
    const file = join(dir, 'boss.jsonl')
    for (const row of [
      { email: 'boss@example.com', roles: ['admin'] },
      { email: 'BOSS@example.com', name: 'The Boss', emailVerified: true },
    ]) {
      await writeFile(file, jsonl([row]))
      const run = await runCli(['users', 'import', file, '--update'], env)
      expect(run.code).toBe(SOME_REJECTED)
      expect(run.stdout).toMatch(/^Imported 0, updated 0, skipped 0, rejected 1, in /)
      expect(await readJsonl(`${file}.rejects.jsonl`)).toEqual([
        {
          line: 1,
          reason: expect.stringMatching(/unverified and with a password of its own/),
          email: row.email,
        },
      ])
      expect(await exported(env)).toEqual(before)
    }
    expect(before.get('boss@example.com')).toMatchObject({ roles: ['user'], emailVerified: false })
  })

  it('reads CSV with a header row, roles separated by spaces or semicolons, and refuses a short row by line', async () => {
    const env = await freshTarget()
    const dir = await tempDir()
    const hash = await bcryptWith('$2y$', 'csv password')
    const file = join(dir, 'users.csv')
    await writeFile(
      file,
      [
        'email,passwordHash,name,roles,emailVerified,createdAt,appMetadata',
        `dee@example.com,${hash},"Dee, the first",admin;ops,true,2021-01-01T00:00:00Z,"{""plan"":""pro""}"`,
        'eve@example.com,,Eve,user auditor,0,,',
        'short@example.com,,Short',
        `fay@example.com,${DJANGO_HASH},,,,,`,
        'gus@example.com,plaintext-password,Gus,,,,',
        '',
      ].join('\r\n'),
    )
    const result = await runCli(['users', 'import', file], env)
    expect(result.code).toBe(SOME_REJECTED)
    expect(result.stdout).toMatch(/^Imported 3, updated 0, skipped 0, rejected 2, in /)
    expect(await readJsonl(`${file}.rejects.jsonl`)).toEqual([
      { line: 4, reason: '3 columns where the header has 7' },
      {
        line: 6,
        reason: expect.stringMatching(/^passwordHash: not a recognised hash/),
        email: 'gus@example.com',
      },
    ])
    const rows = await exported(env)
    expect(rows.get('dee@example.com')).toEqual({
      email: 'dee@example.com',
      name: 'Dee, the first',
      roles: ['admin', 'ops'],
      emailVerified: true,
      createdAt: '2021-01-01T00:00:00.000Z',
      appMetadata: { plan: 'pro' },
      passwordHash: hash,
    })
    expect(rows.get('eve@example.com')).toMatchObject({
      name: 'Eve',
      roles: ['user', 'auditor'],
      emailVerified: false,
    })
    expect(rows.get('fay@example.com')).toMatchObject({ roles: ['user'], passwordHash: DJANGO_HASH })

    const server = await startServerInProcess(env)
    expect((await login(server.url, 'dee@example.com', 'csv password')).status).toBe(200)
    expect((await login(server.url, 'fay@example.com', DJANGO_PASSWORD)).status).toBe(200)
  })

  it('exports JSONL that imports into another database unchanged, hashes only when asked and then owner-readable', async () => {
    const source = await freshTarget()
    const dir = await tempDir()
    const file = join(dir, 'seed.jsonl')
    await writeFile(
      file,
      jsonl(
        Array.from({ length: 2500 }, (_, index) => ({
          email: `user${index}@example.com`,
          ...(index % 3 === 0
            ? { passwordHash: `$2b$10$${String(index).padStart(22, 'a')}${'b'.repeat(31)}` }
            : {}),
          ...(index % 2 === 0 ? { name: `User ${index}` } : {}),
          roles: index % 5 === 0 ? ['admin'] : ['user'],
          emailVerified: index % 4 === 0,
          createdAt: new Date(Date.UTC(2020, 0, 1) + index * 60_000).toISOString(),
          ...(index % 7 === 0 ? { appMetadata: { n: index } } : {}),
        })),
      ),
    )
    expect((await runCli(['users', 'import', file], source)).code).toBe(0)

    const withoutHashes = await runCli(['users', 'export'], source)
    expect(withoutHashes.code).toBe(0)
    expect(withoutHashes.stdout).not.toContain('passwordHash')
    expect(withoutHashes.stderr).toMatch(/^Exported 2500 users in /)

    const output = join(dir, 'export.jsonl')
    const exportedToFile = await runCli(['users', 'export', '--include-hashes', '--output', output], source)
    expect(exportedToFile.code, exportedToFile.stderr).toBe(0)
    expect(exportedToFile.stderr).toMatch(
      /^Exported 2500 users with their password hashes to .*export\.jsonl in /,
    )
    expect((await stat(output)).mode & 0o777).toBe(0o600)

    const target = await freshTarget()
    const reimported = await runCli(['users', 'import', output], target)
    expect(reimported.code, reimported.stderr).toBe(0)
    expect(reimported.stdout).toMatch(/^Imported 2500, updated 0, skipped 0, rejected 0, in /)
    const sourceRows = await exported(source)
    expect(sourceRows.size).toBe(2500)
    expect(await exported(target)).toEqual(sourceRows)
  })

  it('answers a usage error for a file of unknown format and an error for a missing file', async () => {
    const env = await freshTarget()
    const dir = await tempDir()
    const unknown = await runCli(['users', 'import', join(dir, 'users.txt')], env)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('give --format jsonl or --format csv')
    const missing = await runCli(['users', 'import', join(dir, 'missing.jsonl')], env)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^tessera: cannot read .*missing\.jsonl: ENOENT/)
  })
})
