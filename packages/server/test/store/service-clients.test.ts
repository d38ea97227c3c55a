import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createServiceClient,
  recordClientUse,
  revokeServiceClient,
  verifyClientSecret,
} from '../../src/flows/service-clients.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { createStores, type Stores } from '../../src/store/stores.js'
import { testClock } from '../helpers/clock.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'

const clock = testClock(new Date('2030-01-01T12:00:00.250Z'))
const config = { serviceTokenTtl: 600 }
let database: TestDatabase
let stores: Stores
let notified = 0

beforeAll(async () => {
  database = await freshDatabase()
  await migrateToLatest(database.handle.db)
  stores = createStores(database.handle.db, { accessTokenTtl: 900, onRevocation: () => notified++ })
})
afterAll(() => database.drop())

describe('service clients', () => {
  it('verify only with their own secret, and not once revoked', async () => {
    const { client, secret } = await createServiceClient(
      { stores, clock },
      { name: ' billing ', scope: 'a b a' },
    )
    expect(client).toMatchObject({ name: 'billing', scopes: ['a', 'b'], revokedAt: null, lastUsedAt: null })
    expect((await verifyClientSecret(stores, client.id, secret))?.id).toBe(client.id)
    expect(await verifyClientSecret(stores, client.id, `${secret}x`)).toBeUndefined()
    expect(await verifyClientSecret(stores, 'svc_AAAAAAAAAAAAAAAAAAAAAA', secret)).toBeUndefined()
    expect(await verifyClientSecret(stores, 'anything\u0000at all', secret)).toBeUndefined()

    await revokeServiceClient({ stores, clock, config }, client.id)
    expect(await verifyClientSecret(stores, client.id, secret)).toBeUndefined()
  })

  it('revoke in one transaction with a `user` event for the client id, until its last token expires', async () => {
    const { client } = await createServiceClient({ stores, clock }, { name: 'orders', scope: 'introspect' })
    const before = await stores.revocationEvents.lastId()
    const seen = notified
    const first = await revokeServiceClient({ stores, clock, config }, client.id)
    expect(first.changed).toBe(true)
    expect(first.client.revokedAt).toEqual(clock.now())
    expect(notified).toBe(seen + 1)
    const events = await stores.revocationEvents.listAfter(before, 10)
    expect(events).toEqual([
      {
        kind: 'user',
        id: expect.any(BigInt),
        sub: client.id,
        // the next whole second after the revocation, then the longest a service token lives
        notBefore: new Date('2030-01-01T12:00:01.000Z'),
        expiresAt: new Date('2030-01-01T12:10:01.000Z'),
        createdAt: clock.now(),
      },
    ])
    // a second revoke changes nothing and appends nothing
    const again = await revokeServiceClient({ stores, clock, config }, client.id)
    expect(again.changed).toBe(false)
    expect(await stores.revocationEvents.listAfter(before, 10)).toHaveLength(1)
    expect((await stores.serviceClients.findById(client.id))?.revokedAt).toEqual(clock.now())
  })

  it('record a use at most once a minute', async () => {
    const { client } = await createServiceClient({ stores, clock }, { name: 'busy', scope: '' })
    await recordClientUse({ stores, clock }, client)
    const used = await stores.serviceClients.findById(client.id)
    expect(used?.lastUsedAt).toEqual(clock.now())
    clock.advance(30)
    await recordClientUse({ stores, clock }, used ?? client)
    expect((await stores.serviceClients.findById(client.id))?.lastUsedAt).toEqual(used?.lastUsedAt)
    clock.advance(31)
    await recordClientUse({ stores, clock }, used ?? client)
    expect((await stores.serviceClients.findById(client.id))?.lastUsedAt).toEqual(clock.now())
  })
})
