import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config.js'
import { ipKey } from '../../src/limits/keys.js'

const parse = (env: Record<string, string>) => parseConfig({ DATABASE_URL: 'memory://', ...env })

describe('limit configuration', () => {
  it('defaults to the limits of API.md', () => {
    const config = parse({})
    expect(config.limits).toEqual({
      login: { points: 30, duration: 60 },
      loginFailed: { points: 5, duration: 60 },
      register: { points: 10, duration: 3600 },
      mailPerEmail: { points: 3, duration: 900 },
      mailPerIp: { points: 10, duration: 900 },
      tokenUse: { points: 10, duration: 900 },
      passwordChange: { points: 5, duration: 900 },
      refresh: { points: 600, duration: 60 },
      logout: { points: 600, duration: 60 },
      oauth: { points: 600, duration: 60 },
      // not in API.md's table: the passkey routes' own per-IP limit (docs/api.md)
      passkey: { points: 30, duration: 60 },
    })
    expect(config.lockout).toEqual({ threshold: 5, duration: 900, window: 86_400 })
  })

  it('reads <count>/<duration> from each TESSERA_LIMIT_* variable', () => {
    const config = parse({ TESSERA_LIMIT_LOGIN_FAILED: '10/5m', TESSERA_LIMIT_REFRESH: '100 / 30' })
    expect(config.limits.loginFailed).toEqual({ points: 10, duration: 300 })
    expect(config.limits.refresh).toEqual({ points: 100, duration: 30 })
  })

  it.each([
    ['TESSERA_LIMIT_LOGIN', '5'],
    ['TESSERA_LIMIT_LOGIN', '0/1m'],
    ['TESSERA_LIMIT_REGISTER', 'ten/1h'],
    ['TESSERA_LIMIT_MAIL_EMAIL', '3/0'],
    ['TESSERA_LIMIT_REFRESH', '5/1y'],
    ['TESSERA_LOCKOUT_THRESHOLD', '0'],
    ['TESSERA_LOCKOUT_DURATION', '2d'],
    ['TESSERA_LOCKOUT_WINDOW', 'soon'],
    ['TESSERA_REDIS_PREFIX', 'has spaces'],
  ])('refuses %s=%s, naming the variable', (variable, value) => {
    expect(() => parse({ [variable]: value })).toThrow(ConfigError)
    expect(() => parse({ [variable]: value })).toThrow(new RegExp(`^${variable}:`))
  })
})

describe('the key a client address is counted under', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::203.0.113.9', '64:ff9b:0:0::/64'],
  ])('%s counts as %s', (ip, key) => {
    expect(ipKey(ip)).toBe(key)
  })
})
