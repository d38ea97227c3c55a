import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config.js'

const parse = (env: Record<string, string>) => parseConfig(env, '/srv/tessera')

function refusal(env: Record<string, string>): ConfigError {
  try {
    parse(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`)
}

describe('TESSERA_AUDIT_RETENTION', () => {
  it('defaults to 90 days and takes a duration of at least a day', () => {
    expect(parse({}).auditRetention).toBe(90 * 86_400)
    expect(parse({ TESSERA_AUDIT_RETENTION: '400d' }).auditRetention).toBe(400 * 86_400)
    expect(refusal({ TESSERA_AUDIT_RETENTION: '12h' }).variable).toBe('TESSERA_AUDIT_RETENTION')
    expect(refusal({ TESSERA_AUDIT_RETENTION: 'forever' }).variable).toBe('TESSERA_AUDIT_RETENTION')
  })
})

describe('TESSERA_METRICS_TOKEN', () => {
  it('is unset by default, which hides /metrics', () => {
    expect(parse({}).metricsToken).toBeUndefined()
  })

  it('takes a token a scraper can send as Bearer, and never repeats a refused one', () => {
    expect(parse({ TESSERA_METRICS_TOKEN: 'K7rT0pQ2xV9mW4sA/b+c=' }).metricsToken).toBe(
      'K7rT0pQ2xV9mW4sA/b+c=',
    )
    for (const token of ['has spaces in the token', 'quote"in-the-token-xx', 'short']) {
      const error = refusal({ TESSERA_METRICS_TOKEN: token })
      expect(error.variable).toBe('TESSERA_METRICS_TOKEN')
      expect(error.message).not.toContain(token)
    }
  })
})
