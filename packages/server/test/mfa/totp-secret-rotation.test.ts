import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reencryptTotpSecrets } from '../../src/flows/mfa/reencrypt-totp.js'
import { openSealed, sealSecret, totpWrappingKeys } from '../../src/keys/wrapping.js'
import { registerUser, startTestServer, type TestServer } from '../helpers/server.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

describe('TOTP secrets and a secret rotation', () => {
  it('re-seals secrets sealed under the previous secret under the current one, and only those', async () => {
    const [oldSecret, newSecret] = [
      'old-secret-0123456789-abcdefghijklmnop',
      'new-secret-0123456789-abcdefghijklmnop',
    ]
    const stores = server.deps.stores
    const now = server.clock.now()
    const before = await registerUser(server.app)
    const after = await registerUser(server.app)
    await stores.secondFactors.savePendingTotp(
      before.userId,
      await sealSecret(totpWrappingKeys(oldSecret), 'AAAA'),
      now,
    )
    const current = await sealSecret(totpWrappingKeys(newSecret), 'BBBB')
    await stores.secondFactors.savePendingTotp(after.userId, current, now)

    const result = await reencryptTotpSecrets({ stores, secret: newSecret, previousSecret: oldSecret })
    expect(result).toEqual({ reencrypted: 1, unreadable: 0 })
    const moved = await stores.secondFactors.findTotp(before.userId)
    expect(await openSealed(totpWrappingKeys(newSecret), moved?.secretSealed ?? '')).toEqual({
      plaintext: 'AAAA',
      sealedUnder: 'current',
    })
    expect((await stores.secondFactors.findTotp(after.userId))?.secretSealed).toBe(current)
  })
})
