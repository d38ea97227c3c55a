import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'

const parse = (env: Record<string, string>) => parseConfig({ DATABASE_URL: 'memory://', ...env })

describe('TESSERA_WEBAUTHN_RP_ID and TESSERA_WEBAUTHN_ORIGINS', () => {
  it("default to the public URL's host name and origin", () => {
    expect(parse({ TESSERA_PUBLIC_URL: 'https://auth.example.com/api' })).toMatchObject({
      webauthnRpId: 'auth.example.com',
      webauthnOrigins: ['https://auth.example.com'],
    })
    expect(parse({ PORT: '4000' })).toMatchObject({
      webauthnRpId: 'localhost',
      webauthnOrigins: ['http://localhost:4000'],
    })
  })

  it('take a parent domain and the origins of the apps under it', () => {
    const config = parse({
      TESSERA_PUBLIC_URL: 'https://auth.example.com',
      TESSERA_WEBAUTHN_RP_ID: 'Example.com',
      TESSERA_WEBAUTHN_ORIGINS: 'https://app.example.com, https://example.com',
    })
    expect(config.webauthnRpId).toBe('example.com')
    expect(config.webauthnOrigins).toEqual(['https://app.example.com', 'https://example.com'])
  })

  it('refuse an RP id that is no domain name, and an origin outside it', () => {
    for (const rpId of ['https://example.com', 'example.com:443', '127.0.0.1', 'exa mple.com']) {
      expect(() => parse({ TESSERA_WEBAUTHN_RP_ID: rpId })).toThrow(/^TESSERA_WEBAUTHN_RP_ID: /)
    }
    expect(() =>
      parse({
        TESSERA_PUBLIC_URL: 'https://auth.example.com',
        TESSERA_WEBAUTHN_ORIGINS: 'https://evil-example.com',
      }),
    ).toThrow(
      /TESSERA_WEBAUTHN_ORIGINS: https:\/\/evil-example\.com is not on TESSERA_WEBAUTHN_RP_ID \(auth\.example\.com\)/,
    )
    expect(() => parse({ TESSERA_WEBAUTHN_ORIGINS: 'https://example.com/app' })).toThrow(
      /^TESSERA_WEBAUTHN_ORIGINS: "https:\/\/example\.com\/app" is not an origin/,
    )
  })

  it('TESSERA_LIMIT_PASSKEY defaults to 30 a minute', () => {
    expect(parse({}).limits.passkey).toEqual({ points: 30, duration: 60 })
  })
})
