import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config.js'
import { isAllowedRedirect } from '../../src/flows/providers/redirect-target.js'

const base = { DATABASE_URL: 'memory://', TESSERA_PUBLIC_URL: 'http://localhost:3000' }

function problems(env: Record<string, string>): Record<string, string> {
  try {
    parseConfig({ ...base, ...env })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return Object.fromEntries(error.errors.map(({ variable, message }) => [variable, message]))
  }
  return {}
}

describe('TESSERA_OAUTH_PROVIDERS and each provider family', () => {
  it('has no provider and returns to the public origin by default', () => {
    const config = parseConfig(base)
    expect(config.oauthProviders).toEqual([])
    expect(config.oauthRedirects).toEqual(['http://localhost:3000/'])
  })

  it('reads an OpenID provider by issuer with its defaults, and a preset without one', () => {
    const config = parseConfig({
      ...base,
      TESSERA_OAUTH_PROVIDERS: 'acme, google',
      TESSERA_OAUTH_ACME_ISSUER: 'https://id.acme.example',
      TESSERA_OAUTH_ACME_CLIENT_ID: 'tessera',
      TESSERA_OAUTH_ACME_CLIENT_SECRET: 's3cret',
      TESSERA_OAUTH_ACME_SCOPE: 'email',
      TESSERA_OAUTH_GOOGLE_CLIENT_ID: 'g',
      TESSERA_OAUTH_GOOGLE_CLIENT_SECRET: 'gs',
    })
    expect(config.oauthProviders).toEqual([
      {
        id: 'acme',
        name: 'acme',
        issuer: 'https://id.acme.example',
        clientId: 'tessera',
        clientSecret: 's3cret',
        scope: 'openid email',
        tokenAuth: 'client_secret_basic',
        emailVerifiedClaim: 'email_verified',
        insecureLoopback: false,
      },
      expect.objectContaining({ id: 'google', name: 'Google', issuer: 'https://accounts.google.com' }),
    ])
  })

  it('names every missing or bad variable of a provider', () => {
    expect(
      problems({
        TESSERA_OAUTH_PROVIDERS: 'acme',
        TESSERA_OAUTH_ACME_ISSUER: 'ftp://id.acme.example',
        TESSERA_OAUTH_ACME_TOKEN_AUTH: 'private_key_jwt',
      }),
    ).toEqual({ TESSERA_OAUTH_ACME_ISSUER: expect.stringContaining('https') })
    expect(
      problems({ TESSERA_OAUTH_PROVIDERS: 'acme', TESSERA_OAUTH_ACME_ISSUER: 'https://id.acme.example' }),
    ).toEqual({ TESSERA_OAUTH_ACME_CLIENT_ID: 'is required' })
    expect(problems({ TESSERA_OAUTH_PROVIDERS: 'microsoft' })).toHaveProperty(
      'TESSERA_OAUTH_MICROSOFT_ISSUER',
    )
    expect(problems({ TESSERA_OAUTH_PROVIDERS: 'Acme' })).toHaveProperty('TESSERA_OAUTH_PROVIDERS')
    expect(problems({ TESSERA_OAUTH_PROVIDERS: 'acme,acme' })).toHaveProperty('TESSERA_OAUTH_PROVIDERS')
    expect(problems({ TESSERA_OAUTH_PROVIDERS: 'github' })).toHaveProperty('TESSERA_OAUTH_PROVIDERS')
  })

  it('allows a plain-http issuer on a loopback address outside production only', () => {
    const env = {
      TESSERA_OAUTH_PROVIDERS: 'local',
      TESSERA_OAUTH_LOCAL_ISSUER: 'http://127.0.0.1:4000',
      TESSERA_OAUTH_LOCAL_CLIENT_ID: 'c',
      TESSERA_OAUTH_LOCAL_CLIENT_SECRET: 's',
    }
    expect(parseConfig({ ...base, ...env }).oauthProviders[0]?.insecureLoopback).toBe(true)
    expect(problems({ ...env, TESSERA_OAUTH_LOCAL_ISSUER: 'http://idp.example' })).toHaveProperty(
      'TESSERA_OAUTH_LOCAL_ISSUER',
    )
    expect(
      problems({
        ...env,
        NODE_ENV: 'production',
        TESSERA_PUBLIC_URL: 'https://auth.example.com',
        TESSERA_SECRET: 'a-production-secret-0123456789-abcdefghijklmnop',
      }),
    ).toEqual({ TESSERA_OAUTH_LOCAL_ISSUER: 'must be an https URL in production' })
  })

  it('refuses allow-list entries with userinfo, a fragment, a query or an encoded slash', () => {
    for (const entry of [
      'https://user@app.example/',
      'https://app.example/#x',
      'https://app.example/?a=1',
      'https://app.example/a%2Fb',
      'https://app.example\\a',
      'app.example/cb',
    ]) {
      expect(problems({ TESSERA_OAUTH_REDIRECTS: entry }), entry).toHaveProperty('TESSERA_OAUTH_REDIRECTS')
    }
  })
})

describe('the redirect allow-list', () => {
  const allowList = parseConfig({
    ...base,
    TESSERA_OAUTH_REDIRECTS: 'https://app.example/cb, http://localhost:5173/',
  }).oauthRedirects

  it('allows the exact URL, a path below it at a slash, and a query', () => {
    for (const target of [
      'https://app.example/cb',
      'https://app.example/cb/done',
      'https://app.example/cb?next=1',
      'https://APP.example:443/cb',
      'http://localhost:5173/',
      'http://localhost:5173/anything/at/all',
    ]) {
      expect(isAllowedRedirect(allowList, target), target).toBe(true)
    }
  })

  it('refuses another scheme, host, port, a path sharing only a prefix, and ambiguous text', () => {
    for (const target of [
      'http://app.example/cb',
      'https://evil.example/cb',
      'https://app.example.evil.example/cb',
      'https://app.example:8443/cb',
      'https://app.example/cbx',
      'https://app.example/cb/../admin',
      'https://app.example/cb/%2e%2e/admin',
      'https://app.example/cb%2F..%2Fadmin',
      'https://app.example/cb\\..\\admin',
      'https://app.example@evil.example/cb',
      'https://user:pw@app.example/cb',
      'https://app.example/cb#token',
      'http://localhost:5174/',
      'javascript:alert(1)//localhost:5173/',
      '/cb',
      'https://app.example/cb\n',
    ]) {
      expect(isAllowedRedirect(allowList, target), target).toBe(false)
    }
  })
})
