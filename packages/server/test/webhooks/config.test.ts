import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config.js'

const URL_ = 'https://hooks.example.com/tessera'
const SECRET = `whsec_${randomBytes(32).toString('base64')}`

function refusal(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env, '/srv/tessera')
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`)
}

describe('webhook configuration', () => {
  it('reads the URL, the secret and the defaults: 10 s per attempt, delivered events kept 7 days', () => {
    const config = parseConfig({ TESSERA_WEBHOOK_URL: URL_, TESSERA_WEBHOOK_SECRET: SECRET }, '/srv/tessera')
    expect(config).toMatchObject({
      webhookUrl: URL_,
      webhookSecret: SECRET,
      webhookTimeout: 10,
      webhookRetention: 7 * 86_400,
    })
    expect(parseConfig({}, '/srv/tessera')).toMatchObject({ webhookUrl: undefined, webhookSecret: undefined })
  })

  it.each([
    ['a URL without a secret', { TESSERA_WEBHOOK_URL: URL_ }, 'TESSERA_WEBHOOK_SECRET', /required/],
    [
      'a secret without a URL',
      { TESSERA_WEBHOOK_SECRET: SECRET },
      'TESSERA_WEBHOOK_SECRET',
      /only used with/,
    ],
    [
      'a secret without whsec_',
      { TESSERA_WEBHOOK_URL: URL_, TESSERA_WEBHOOK_SECRET: SECRET.slice(6) },
      'TESSERA_WEBHOOK_SECRET',
      /whsec_/,
    ],
    [
      'a secret that is not base64',
      { TESSERA_WEBHOOK_URL: URL_, TESSERA_WEBHOOK_SECRET: 'whsec_not base64 at all!!' },
      'TESSERA_WEBHOOK_SECRET',
      /base64/,
    ],
    [
      'a key of fewer than 24 bytes',
      { TESSERA_WEBHOOK_URL: URL_, TESSERA_WEBHOOK_SECRET: `whsec_${randomBytes(23).toString('base64')}` },
      'TESSERA_WEBHOOK_SECRET',
      /at least 24 bytes/,
    ],
    [
      'a URL that is not http(s)',
      { TESSERA_WEBHOOK_URL: 'ftp://x', TESSERA_WEBHOOK_SECRET: SECRET },
      'TESSERA_WEBHOOK_URL',
      /http/,
    ],
    [
      'a timeout over a minute',
      { TESSERA_WEBHOOK_URL: URL_, TESSERA_WEBHOOK_SECRET: SECRET, TESSERA_WEBHOOK_TIMEOUT: '2m' },
      'TESSERA_WEBHOOK_TIMEOUT',
      /at most/,
    ],
  ])('refuses %s', (_what, env, variable, text) => {
    const error = refusal(env)
    expect(error.variable).toBe(variable)
    expect(error.message).toMatch(text)
    // the secret is never repeated
    expect(error.message).not.toContain(SECRET.slice(6, 20))
  })
})
