import { hkdfSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { seal } from '../../src/keys/secret.js'
import {
  isWellFormedRefreshToken,
  newRefreshToken,
  newSuccessor,
  sealSuccessor,
  unsealSuccessor,
} from '../../src/tokens/refresh-token.js'

describe('the sealed successor of a refresh token', () => {
  it('opens with its parent token, and holds nothing usable without it', async () => {
    const parent = newRefreshToken()
    const successor = newRefreshToken()
    const sealed = sealSuccessor(parent, successor)
    expect(sealed).toMatch(/^g1\.[A-Za-z0-9_-]+$/)
    expect(sealed).not.toContain(successor)
    expect(await unsealSuccessor(parent, sealed)).toBe(successor)
  })

  it('makes a new successor, well formed and sealed under its parent, different each time', async () => {
    const parent = newRefreshToken()
    const first = newSuccessor(parent)
    const second = newSuccessor(parent)
    expect(isWellFormedRefreshToken(first.successor)).toBe(true)
    expect(first.successor).not.toBe(second.successor)
    expect(first.sealed).toMatch(/^g1\.[A-Za-z0-9_-]+$/)
    expect(first.sealed).not.toContain(first.successor)
    expect(await unsealSuccessor(parent, first.sealed)).toBe(first.successor)
    expect(await unsealSuccessor(parent, second.sealed)).toBe(second.successor)
    await expect(unsealSuccessor(newRefreshToken(), first.sealed)).rejects.toThrow()
  })

  it('seals with a fresh IV each time', () => {
    const parent = newRefreshToken()
    const successor = newRefreshToken()
    expect(sealSuccessor(parent, successor)).not.toBe(sealSuccessor(parent, successor))
  })

  it('refuses to open under another parent, or once altered or cut short', async () => {
    const parent = newRefreshToken()
    const sealed = sealSuccessor(parent, newRefreshToken())
    await expect(unsealSuccessor(newRefreshToken(), sealed)).rejects.toThrow()
    const bytes = Buffer.from(sealed.slice(3), 'base64url')
    for (const index of [0, 20, bytes.length - 1]) {
      const altered = Buffer.from(bytes)
      altered[index] = (altered[index] ?? 0) ^ 1
      await expect(unsealSuccessor(parent, `g1.${altered.toString('base64url')}`)).rejects.toThrow()
    }
    await expect(
      unsealSuccessor(parent, `g1.${bytes.subarray(0, 20).toString('base64url')}`),
    ).rejects.toThrow()
  })

  it('still opens a successor sealed as a JWE by an earlier version (a repeat racing an upgrade)', async () => {
    const parent = newRefreshToken()
    const successor = newRefreshToken()
    // how the earlier version sealed it: jose's compact JWE (dir, A256GCM) under the same key
    const key = new Uint8Array(hkdfSync('sha256', parent, 'tessera refresh successor', 'v1', 32))
    const jwe = await seal(key, successor)
    expect(await unsealSuccessor(parent, jwe)).toBe(successor)
    await expect(unsealSuccessor(newRefreshToken(), jwe)).rejects.toThrow()
  })
})
