import { randomBytes } from 'node:crypto'
import { decodeProtectedHeader } from 'jose'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { freshPostgresUrl, TEST_DATABASE_URL } from '../helpers/database.js'
import {
  cleanupProcesses,
  type Env,
  login,
  register,
  requestJson,
  spawnCli,
  startServerProcess,
  type TokenResponse,
  waitFor,
} from '../helpers/process.js'

const PASSWORD = 'correct horse battery staple'
const SECRET = randomBytes(36).toString('base64url')

const drops: (() => Promise<void>)[] = []
afterEach(async () => {
  await cleanupProcesses()
  await Promise.all(drops.splice(0).map((drop) => drop()))
})

/** The environment of a server or command on a fresh PostgreSQL database of its own. */
async function postgresEnv(extra: Env = {}): Promise<Env> {
  const database = await freshPostgresUrl()
  if (!database) throw new Error('TEST_DATABASE_URL is not set')
  drops.push(database.drop)
  return { DATABASE_URL: database.url, TESSERA_SECRET: SECRET, ...extra }
}

/** A kid as Tessera makes them: the base64url SHA-256 thumbprint of the key. */
const KID = /signing key ([A-Za-z0-9_-]{43})/

const kidOf = (token: string) => decodeProtectedHeader(token).kid

const jwksKids = async (base: string) =>
  (await requestJson<{ keys: { kid: string }[] }>(`${base}/.well-known/jwks.json`)).body.keys.map(
    (key) => key.kid,
  )

describe.skipIf(!TEST_DATABASE_URL)('tessera on PostgreSQL', () => {
  it('rotates the signing key from the CLI beside a running server, which then signs with it', async () => {
    // the new key signs at once (no publish lead), and the server re-reads the ring every second
    const env = await postgresEnv({ TESSERA_KEY_REFRESH_INTERVAL: '1', TESSERA_KEY_PUBLISH_LEAD: '0' })
    const server = await startServerProcess(env)
    const before = await register(server.url, 'rotate@example.com', PASSWORD)
    expect(before.status).toBe(201)
    const oldKid = kidOf(before.body.accessToken)

    // no data-dir lock on PostgreSQL: the CLI runs beside the server
    const rotated = await spawnCli(['keys', 'rotate'], env)
    expect(rotated.stderr).toBe('')
    expect(rotated.code).toBe(0)
    const newKid = KID.exec(rotated.stdout)?.[1]
    expect(newKid).toBeDefined()
    expect(newKid).not.toBe(oldKid)

    const list = await spawnCli(['keys', 'list'], env)
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(new RegExp(`^${newKid}\\s+RS256\\s+active\\s`, 'm'))
    expect(list.stdout).toMatch(new RegExp(`^${oldKid}\\s+RS256\\s+retired\\s.*retired \\d{4}-`, 'm'))

    // within the refresh interval (bounded wait), new logins get tokens signed by the new key
    const after = await waitFor(
      async () => {
        const response = await login(server.url, 'rotate@example.com', PASSWORD)
        expect(response.status).toBe(200)
        return kidOf(response.body.accessToken) === newKid ? response : undefined
      },
      `tokens signed with ${newKid}`,
      10_000,
      200,
    )
    expect((await requestJson(`${server.url}/auth/me`, { token: after.body.accessToken })).status).toBe(200)
    // a token signed before the rotation still verifies, and its key is still published
    expect((await requestJson(`${server.url}/auth/me`, { token: before.body.accessToken })).status).toBe(200)
    expect(await jwksKids(server.url)).toEqual(expect.arrayContaining([oldKid, newKid]))
  })

  it('keeps at most TESSERA_DB_POOL_SIZE connections open, however many requests come at once', async () => {
    const env = await postgresEnv({ TESSERA_DB_POOL_SIZE: '2' })
    const server = await startServerProcess(env)
    const registered = await register(server.url, 'pool@example.com', PASSWORD)
    expect(registered.status).toBe(201)
    // 40 requests at once, each reading the session: a pool of 10 would open more than two
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        requestJson(`${server.url}/auth/me`, { token: registered.body.accessToken }),
      ),
    )
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200))
    const client = new pg.Client({ connectionString: env.DATABASE_URL })
    await client.connect()
    try {
      const { rows } = await client.query<{ count: string }>(
        'select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
      )
      expect(Number(rows[0]?.count)).toBeGreaterThanOrEqual(1)
      expect(Number(rows[0]?.count)).toBeLessThanOrEqual(2)
    } finally {
      await client.end()
    }
  })

  it('runs two migrate processes started at once on a fresh database, applying each migration once', async () => {
    const env = await postgresEnv()
    const [a, b] = await Promise.all([spawnCli(['migrate'], env), spawnCli(['migrate'], env)])
    expect(a.stderr).toBe('')
    expect(b.stderr).toBe('')
    expect([a.code, b.code]).toEqual([0, 0])
    const outputs = [a.stdout, b.stdout].sort()
    expect(outputs[0]).toMatch(/^Applied 0001-initial/)
    expect(outputs[1]).toBe('Database is up to date.\n')
  })

  it('runs two servers on one database, each verifying the tokens of the other', async () => {
    // one public URL (the issuer) for both, as behind a load balancer
    const env = await postgresEnv({ TESSERA_PUBLIC_URL: 'http://localhost:3000' })
    // started together: both migrate and make the first signing key at once
    const [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)])
    expect(await jwksKids(a.url)).toHaveLength(1)
    expect(await jwksKids(b.url)).toEqual(await jwksKids(a.url))

    const registered = await register(a.url, 'pair@example.com', PASSWORD)
    expect(registered.status).toBe(201)
    const me = await requestJson<{ user: { email: string } }>(`${b.url}/auth/me`, {
      token: registered.body.accessToken,
    })
    expect(me.status).toBe(200)
    expect(me.body.user.email).toBe('pair@example.com')

    // a session started on one continues on the other
    const refreshed = await requestJson<TokenResponse>(`${b.url}/auth/refresh`, {
      body: { refreshToken: registered.body.refreshToken, tokenDelivery: 'body' },
    })
    expect(refreshed.status).toBe(200)
    expect((await requestJson(`${a.url}/auth/me`, { token: refreshed.body.accessToken })).status).toBe(200)
  })
})
