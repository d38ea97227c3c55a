import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyRing } from '../../src/keys/key-ring.js'
import { migrateToLatest } from '../../src/store/migrate.js'
import { createStores } from '../../src/store/stores.js'
import { freshDatabase } from '../helpers/database.js'
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

describe('key ring', () => {
  it('retires the asymmetric keys when the server switches to HS256, and unpublishes them after their tokens expired', async () => {
    expect(server.deps.keyRing.jwks().keys).toHaveLength(1)
    const hs256 = await createKeyRing({
      store: server.deps.stores.signingKeys,
      secret: TEST_SECRET,
      clock: server.clock,
      config: {
        ...server.config,
        signingAlg: 'HS256',
        hs256Secret: 'h'.repeat(8) + 'abcdefghijklmnopqrstuvwxyz0123456789',
      },
    })
    try {
      // still published while a token it signed may live
      expect(hs256.jwks().keys).toHaveLength(1)
      expect(hs256.signingKey().alg).toBe('HS256')
      server.clock.advance(server.config.accessTokenTtl + server.config.keyRefreshInterval + 61)
      await hs256.reload()
      expect(hs256.jwks().keys).toEqual([])
      expect(hs256.algorithms()).toEqual(['HS256'])
    } finally {
      hs256.close()
    }
  })

  it('generates one key when two instances start on an empty ring at once', async () => {
    const fresh = await freshDatabase()
    try {
      await migrateToLatest(fresh.handle.db)
      const store = createStores(fresh.handle.db, { accessTokenTtl: 900 }).signingKeys
      const rings = await Promise.all(
        [1, 2, 3].map(() =>
          createKeyRing({ store, secret: TEST_SECRET, clock: server.clock, config: server.config }),
        ),
      )
      // the ring lock serialises them: the later ones find the first one's key and keep it
      expect(new Set(rings.map((ring) => ring.signingKey().kid)).size).toBe(1)
      expect(await store.listAll()).toHaveLength(1)
      for (const ring of rings) ring.close()
    } finally {
      await fresh.drop()
    }
  })
})

describe('automatic rotation', () => {
  it('publishes the next key ahead of TESSERA_KEY_ROTATION and switches to it on time', async () => {
    const rotating = await startTestServer({ TESSERA_KEY_ROTATION: '1h' })
    try {
      const { keyRing, config } = rotating.deps
      const first = keyRing.signingKey().kid
      rotating.clock.advance(3600 - config.keyPublishLead - 1)
      await keyRing.reload()
      expect(keyRing.jwks().keys).toHaveLength(1)
      rotating.clock.advance(1)
      await keyRing.reload()
      // the next key is published, the first still signs
      expect(keyRing.jwks().keys).toHaveLength(2)
      expect(keyRing.signingKey().kid).toBe(first)
      rotating.clock.advance(config.keyPublishLead)
      const second = keyRing.signingKey().kid
      expect(second).not.toBe(first)
      // a reload on another instance does not rotate again
      await keyRing.reload()
      expect(keyRing.signingKey().kid).toBe(second)
      expect(keyRing.jwks().keys).toHaveLength(2)
    } finally {
      await rotating.close()
    }
  })
})
