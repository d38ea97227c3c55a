import { randomBytes } from 'node:crypto'
import { decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { type Config, ConfigError, parseConfig } from '../../src/config.js'
import { noEvents } from '../../src/events.js'
import { reencryptKeys, rotateKey } from '../../src/flows/keys.js'
import { createKeyRing } from '../../src/keys/key-ring.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { createStores, type Stores } from '../../src/store/stores.js'
import { assertSecretOpensSigningKeys } from '../../src/tessera.js'
import { runCli, startServerInProcess, stopInProcessServers } from '../helpers/cli.js'
import { testClock } from '../helpers/clock.js'
import { freshDatabase, freshPostgresUrl, type TestDatabase } from '../helpers/database.js'
import {
  cleanupProcesses,
  type Env,
  freePort,
  login,
  preparedDataDir,
  register,
  requestJson,
  type TokenResponse,
} from '../helpers/process.js'

const PASSWORD = 'correct horse battery staple'
const newSecret = () => randomBytes(36).toString('base64url')

const databases: TestDatabase[] = []
const drops: (() => Promise<void>)[] = []
afterEach(async () => {
  await stopInProcessServers()
  await cleanupProcesses()
  await Promise.all(databases.splice(0).map((database) => database.drop()))
  await Promise.all(drops.splice(0).map((drop) => drop()))
})

describe('TESSERA_SECRET_PREVIOUS', () => {
  const base = { DATABASE_URL: 'memory://' }
  const error = (env: Record<string, string>): unknown => {
    try {
      parseConfig({ ...base, ...env })
    } catch (thrown) {
      return thrown
    }
    return undefined
  }

  it('is checked like TESSERA_SECRET, and only with a different TESSERA_SECRET', () => {
    const [secret, previous] = [newSecret(), newSecret()]
    expect(parseConfig({ ...base, TESSERA_SECRET: secret, TESSERA_SECRET_PREVIOUS: previous })).toMatchObject(
      {
        secret,
        secretPrevious: previous,
      },
    )
    expect(error({ TESSERA_SECRET: secret, TESSERA_SECRET_PREVIOUS: 'short' })).toMatchObject({
      variable: 'TESSERA_SECRET_PREVIOUS',
      message: expect.stringContaining('at least 32 characters'),
    })
    expect(error({ TESSERA_SECRET: secret, TESSERA_SECRET_PREVIOUS: 'a'.repeat(40) })).toMatchObject({
      variable: 'TESSERA_SECRET_PREVIOUS',
      message: expect.stringContaining('placeholder'),
    })
    expect(error({ TESSERA_SECRET_PREVIOUS: secret })).toMatchObject({
      variable: 'TESSERA_SECRET_PREVIOUS',
      message: expect.stringContaining('only used with TESSERA_SECRET'),
    })
    expect(error({ TESSERA_SECRET: secret, TESSERA_SECRET_PREVIOUS: secret })).toBeInstanceOf(ConfigError)
  })
})

describe('rotating TESSERA_SECRET (key ring and flows)', () => {
  async function setup(): Promise<{ stores: Stores; config: (env: Record<string, string>) => Config }> {
    const database = await freshDatabase()
    databases.push(database)
    await migrateToLatest(database.handle.db)
    return {
      stores: createStores(database.handle.db, { accessTokenTtl: 900 }),
      config: (env) => parseConfig({ DATABASE_URL: 'memory://', TESSERA_KEY_PUBLISH_LEAD: '0', ...env }),
    }
  }

  it('opens keys sealed under the previous secret until keys reencrypt moves them under the new one', async () => {
    const { stores, config } = await setup()
    const clock = testClock()
    const [a, b] = [newSecret(), newSecret()]
    const first = await createKeyRing({ store: stores.signingKeys, secret: a, clock, config: config({}) })
    const oldKid = first.signingKey().kid
    first.close()

    // the new secret alone opens nothing yet
    await expect(
      createKeyRing({ store: stores.signingKeys, secret: b, clock, config: config({}) }),
    ).rejects.toThrow(`neither TESSERA_SECRET nor TESSERA_SECRET_PREVIOUS decrypts the signing key ${oldKid}`)

    const during = config({ TESSERA_SECRET: b, TESSERA_SECRET_PREVIOUS: a })
    expect(await assertSecretOpensSigningKeys(during, stores.signingKeys, b)).toEqual({
      sealedUnderPrevious: [oldKid],
    })
    const ring = await createKeyRing({
      store: stores.signingKeys,
      secret: b,
      previousSecret: a,
      clock,
      config: during,
    })
    expect(ring.signingKey().kid).toBe(oldKid)
    ring.close()

    // a key rotated in meanwhile is sealed under the new secret
    clock.advance(60)
    const { kid: newKid } = await rotateKey({
      stores,
      clock,
      events: noEvents,
      secret: b,
      alg: 'RS256',
      lead: 0,
    })
    expect(await reencryptKeys({ stores, secret: b, previousSecret: a })).toEqual({
      reencrypted: [oldKid],
      unchanged: [newKid],
    })
    expect(await reencryptKeys({ stores, secret: b, previousSecret: a })).toEqual({
      reencrypted: [],
      unchanged: [newKid, oldKid],
    })

    const after = config({ TESSERA_SECRET: b })
    expect(await assertSecretOpensSigningKeys(after, stores.signingKeys, b)).toEqual({
      sealedUnderPrevious: [],
    })
    const alone = await createKeyRing({ store: stores.signingKeys, secret: b, clock, config: after })
    expect(alone.signingKey().kid).toBe(newKid)
    alone.close()
    await expect(
      assertSecretOpensSigningKeys(config({ TESSERA_SECRET: a }), stores.signingKeys, a),
    ).rejects.toThrow(/^TESSERA_SECRET: does not decrypt the signing key/)
  })

  it('re-encrypts nothing when a key opens with neither secret', async () => {
    const { stores, config } = await setup()
    const clock = testClock()
    const [a, b, c] = [newSecret(), newSecret(), newSecret()]
    ;(await createKeyRing({ store: stores.signingKeys, secret: a, clock, config: config({}) })).close()
    clock.advance(60)
    // the newest key under c opens and is re-encrypted first; the older one under a opens with
    // neither secret, and the whole transaction rolls back
    await rotateKey({ stores, clock, secret: c, alg: 'RS256', lead: 0 })
    const before = await stores.signingKeys.listAll()

    await expect(reencryptKeys({ stores, secret: b, previousSecret: c })).rejects.toThrow(
      /^TESSERA_SECRET_PREVIOUS: neither it nor TESSERA_SECRET decrypts the signing key .*; no key was changed\./,
    )
    await expect(reencryptKeys({ stores, secret: a, previousSecret: undefined })).rejects.toThrow(
      /^TESSERA_SECRET_PREVIOUS: is not set, and TESSERA_SECRET does not decrypt the signing key/,
    )
    expect(await stores.signingKeys.listAll()).toEqual(before)
  })
})

/** An embedded data dir, or a fresh PostgreSQL database when TEST_DATABASE_URL is set. */
async function databaseEnv(): Promise<Env> {
  const postgres = await freshPostgresUrl()
  if (!postgres) return { TESSERA_DATA_DIR: await preparedDataDir() }
  drops.push(postgres.drop)
  return { DATABASE_URL: postgres.url }
}

const me = (base: string, token: string) => requestJson(`${base}/auth/me`, { token })
const kidOf = (token: string) => decodeProtectedHeader(token).kid

describe('rotating TESSERA_SECRET (processes)', () => {
  it('serves with the new secret and the previous one, then, after keys reencrypt, with the new one alone', async () => {
    const database = await databaseEnv()
    const [a, b] = [newSecret(), newSecret()]
    const first = await startServerInProcess({ ...database, TESSERA_SECRET: a })
    const before = await register(first.url, 'rotate@example.com', PASSWORD)
    expect(before.status).toBe(201)
    expect(await first.stop()).toMatchObject({ code: 0 })

    // the same port: the same issuer, so tokens from before stay valid
    const during = { ...database, TESSERA_SECRET: b, TESSERA_SECRET_PREVIOUS: a, PORT: String(first.port) }
    const second = await startServerInProcess(during)
    expect(second.stdout()).toContain('run tessera keys reencrypt')
    expect((await me(second.url, before.body.accessToken)).status).toBe(200)
    const refreshed = await requestJson<TokenResponse>(`${second.url}/auth/refresh`, {
      body: { refreshToken: before.body.refreshToken, tokenDelivery: 'body' },
    })
    expect(refreshed.status).toBe(200)
    // signed with the key sealed under the previous secret
    expect(kidOf(refreshed.body.accessToken)).toBe(kidOf(before.body.accessToken))
    expect((await register(second.url, 'during@example.com', PASSWORD)).status).toBe(201)
    expect(await second.stop()).toMatchObject({ code: 0 })

    const reencrypted = await runCli(['keys', 'reencrypt'], during)
    expect(reencrypted.stderr).toBe('')
    expect(reencrypted.code).toBe(0)
    expect(reencrypted.stdout).toMatch(
      /^Re-encrypted 1 signing key\(s\) under TESSERA_SECRET: [A-Za-z0-9_-]{43}\. /,
    )

    const after = { ...database, TESSERA_SECRET: b, PORT: String(first.port) }
    const third = await startServerInProcess(after)
    expect(third.stdout()).not.toContain('reencrypt')
    expect((await me(third.url, refreshed.body.accessToken)).status).toBe(200)
    expect((await login(third.url, 'rotate@example.com', PASSWORD)).status).toBe(200)
    expect(await third.stop()).toMatchObject({ code: 0 })

    // the old secret opens nothing any more: refused with a message, not a stack trace
    const old = await runCli(['serve'], { ...database, TESSERA_SECRET: a, PORT: String(await freePort()) })
    expect(old.code).toBe(1)
    expect(old.stderr).toMatch(
      /^tessera: TESSERA_SECRET: does not decrypt the signing key [A-Za-z0-9_-]{43} /,
    )
    expect(old.stderr).not.toMatch(/\n\s+at /)
  }, 120_000)

  it('refuses to start when neither secret opens the signing key, and keys reencrypt then changes nothing', async () => {
    const database = await databaseEnv()
    const [a, b, c] = [newSecret(), newSecret(), newSecret()]
    const first = await startServerInProcess({ ...database, TESSERA_SECRET: a })
    expect((await register(first.url, 'wrong@example.com', PASSWORD)).status).toBe(201)
    expect(await first.stop()).toMatchObject({ code: 0 })

    const wrong = { ...database, TESSERA_SECRET: b, TESSERA_SECRET_PREVIOUS: c }
    const serve = await runCli(['serve'], { ...wrong, PORT: String(await freePort()) })
    expect(serve.code).toBe(1)
    expect(serve.stderr).toMatch(
      /^tessera: TESSERA_SECRET: does not, nor does TESSERA_SECRET_PREVIOUS, decrypt the signing key /,
    )
    const reencrypt = await runCli(['keys', 'reencrypt'], { ...database, TESSERA_SECRET: b })
    expect(reencrypt.code).toBe(1)
    expect(reencrypt.stderr).toMatch(
      /^tessera: TESSERA_SECRET_PREVIOUS: is not set, and TESSERA_SECRET does not decrypt the signing key .*; no key was changed\./,
    )

    const again = await startServerInProcess({ ...database, TESSERA_SECRET: a })
    expect((await login(again.url, 'wrong@example.com', PASSWORD)).status).toBe(200)
  }, 120_000)
})
