import { describe, expect, it } from 'vitest'
import {
  decideSigningKey,
  liveAt,
  mayReloadForUnknownKid,
  publishedSince,
  rotationDue,
  signerAt,
  signingRowAt,
} from '../../src/keys/signing-policy.js'

const NOW = new Date('2026-03-01T12:00:00Z')
const at = (seconds: number): Date => new Date(NOW.getTime() + seconds * 1000)
const DAY = 86_400

interface Row {
  kid: string
  alg: string
  activatesAt: Date
  retiredAt: Date | null
}
const row = (kid: string, activates: number, retired: number | null = null, alg = 'ES256'): Row => ({
  kid,
  alg,
  activatesAt: at(activates),
  retiredAt: retired === null ? null : at(retired),
})

describe('which key signs', () => {
  it('picks the newest activated key that is not retired', () => {
    const rows = [row('pending', 60), row('current', -DAY), row('old', -2 * DAY, -DAY)]
    expect(signingRowAt(rows, NOW)?.kid).toBe('current')
    expect(signingRowAt(rows, at(60))?.kid).toBe('pending')
  })

  it('stops signing with a key at the moment it retires', () => {
    const rows = [row('current', -DAY, 0)]
    expect(signingRowAt(rows, at(-1))?.kid).toBe('current')
    expect(signingRowAt(rows, NOW)).toBeUndefined()
  })

  it('falls back to the oldest live key when the clock stepped back before every activation', () => {
    const rows = [row('newer', 10), row('older', 5)]
    expect(signingRowAt(rows, NOW)).toBeUndefined()
    expect(signerAt(rows, NOW)?.kid).toBe('older')
    expect(signerAt([], NOW)).toBeUndefined()
  })

  it('counts as live the keys not retired yet, pending ones included', () => {
    const rows = [row('pending', 60), row('current', -DAY, 60), row('gone', -2 * DAY, 0)]
    expect(liveAt(rows, NOW).map((r) => r.kid)).toEqual(['pending', 'current'])
  })
})

describe('when a rotation is due', () => {
  it('is due once the successor, published lead seconds ahead, would take over at rotateAfter', () => {
    const signing = row('current', -(30 * DAY) + 3600)
    expect(rotationDue(signing, NOW, 30 * DAY, 3600)).toBe(true)
    expect(rotationDue(signing, NOW, 30 * DAY, 3599)).toBe(false)
  })

  it('is never due without a schedule', () => {
    expect(rotationDue(row('current', -365 * DAY), NOW, null, 0)).toBe(false)
  })
})

describe('deciding the signing key', () => {
  const rules = { alg: 'ES256', rotateAfter: 30 * DAY, lead: 600 }

  it('makes a first key that signs at once, lead notwithstanding', () => {
    expect(decideSigningKey([], NOW, rules)).toEqual({ action: 'create', activatesAt: NOW, replaces: false })
  })

  it('keeps a young key of the configured algorithm', () => {
    const current = row('current', -DAY)
    expect(decideSigningKey([current], NOW, rules)).toEqual({ action: 'keep', key: current })
  })

  it('schedules a successor lead seconds ahead when the rotation is due', () => {
    expect(decideSigningKey([row('current', -30 * DAY)], NOW, rules)).toEqual({
      action: 'create',
      activatesAt: at(600),
      replaces: true,
    })
  })

  it('keeps a scheduled successor of the right algorithm instead of making another', () => {
    const pending = row('pending', 300)
    expect(decideSigningKey([pending, row('current', -30 * DAY, 300)], NOW, rules)).toEqual({
      action: 'keep',
      key: pending,
    })
  })

  it('replaces the key when the configured algorithm changed, or a rotation is asked for', () => {
    const current = row('current', -DAY, null, 'RS256')
    expect(decideSigningKey([current], NOW, rules)).toMatchObject({ action: 'create', replaces: true })
    expect(decideSigningKey([row('current', -DAY)], NOW, { ...rules, rotate: true })).toMatchObject({
      action: 'create',
      activatesAt: at(600),
    })
  })
})

describe('what the JWKS keeps', () => {
  it('keeps a retired key for a token lifetime, a reload interval and a minute', () => {
    expect(publishedSince(NOW, { accessTokenTtl: 900, keyRefreshInterval: 60 })).toEqual(at(-1020))
  })

  it('re-reads the ring for an unknown kid at most every 5 seconds', () => {
    expect(mayReloadForUnknownKid(NOW, at(-5).getTime())).toBe(false)
    expect(mayReloadForUnknownKid(NOW, at(-6).getTime())).toBe(true)
  })
})
