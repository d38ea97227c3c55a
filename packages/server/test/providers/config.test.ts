import { generateKeyPairSync } from 'node:crypto'
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
        protocol: 'oidc',
        issuer: 'https://id.acme.example',
        apiUrl: null,
        clientId: 'tessera',
        clientSecret: 's3cret',
        scope: 'openid email',
        tokenAuth: 'client_secret_basic',
        emailVerifiedClaim: 'email_verified',
        emailVerifiedString: false,
        responseMode: 'query',
        signedSecret: null,
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
    expect(problems({ TESSERA_OAUTH_PROVIDERS: 'github' })).toEqual({
      TESSERA_OAUTH_GITHUB_CLIENT_ID: 'is required',
    })
    expect(
      problems({
        TESSERA_OAUTH_PROVIDERS: 'acme',
        TESSERA_OAUTH_ACME_ISSUER: 'https://id.acme.example',
        TESSERA_OAUTH_ACME_CLIENT_ID: 'c',
        TESSERA_OAUTH_ACME_CLIENT_SECRET: 's',
        TESSERA_OAUTH_ACME_RESPONSE_MODE: 'fragment',
      }),
    ).toEqual({ TESSERA_OAUTH_ACME_RESPONSE_MODE: 'expected one of query, form_post, got "fragment"' })
  })

  it('reads the github preset: OAuth 2 at github.com and its API, base URLs overridable', () => {
    const github = { TESSERA_OAUTH_GITHUB_CLIENT_ID: 'Iv1.abc', TESSERA_OAUTH_GITHUB_CLIENT_SECRET: 'gh' }
    const [preset] = parseConfig({ ...base, TESSERA_OAUTH_PROVIDERS: 'github', ...github }).oauthProviders
    expect(preset).toMatchObject({
      name: 'GitHub',
      protocol: 'github',
      issuer: 'https://github.com',
      apiUrl: 'https://api.github.com',
      scope: 'read:user user:email',
      tokenAuth: 'client_secret_post',
      responseMode: 'query',
      insecureLoopback: false,
    })
    const [enterprise] = parseConfig({
      ...base,
      TESSERA_OAUTH_PROVIDERS: 'github',
      ...github,
      TESSERA_OAUTH_GITHUB_BASE_URL: 'https://ghe.example.com/',
      TESSERA_OAUTH_GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
    }).oauthProviders
    expect(enterprise).toMatchObject({
      issuer: 'https://ghe.example.com',
      apiUrl: 'https://ghe.example.com/api/v3',
    })
    expect(
      problems({
        TESSERA_OAUTH_PROVIDERS: 'github',
        ...github,
        TESSERA_OAUTH_GITHUB_ISSUER: 'https://x.example',
      }),
    ).toHaveProperty('TESSERA_OAUTH_GITHUB_ISSUER')
    expect(
      problems({
        TESSERA_OAUTH_PROVIDERS: 'github',
        ...github,
        TESSERA_OAUTH_GITHUB_API_URL: 'http://api.example',
      }),
    ).toHaveProperty('TESSERA_OAUTH_GITHUB_API_URL')
    expect(
      problems({
        TESSERA_OAUTH_PROVIDERS: 'acme',
        TESSERA_OAUTH_ACME_ISSUER: 'https://id.acme.example',
        TESSERA_OAUTH_ACME_CLIENT_ID: 'c',
        TESSERA_OAUTH_ACME_CLIENT_SECRET: 's',
        TESSERA_OAUTH_ACME_API_URL: 'https://api.acme.example',
      }),
    ).toEqual({ TESSERA_OAUTH_ACME_API_URL: 'is read only for the github preset' })
  })

  it('reads the apple preset: a signing key instead of a client secret, form_post, and refuses a bad key without echoing it', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const apple = {
      TESSERA_OAUTH_PROVIDERS: 'apple',
      TESSERA_OAUTH_APPLE_CLIENT_ID: 'com.example.web',
      TESSERA_OAUTH_APPLE_TEAM_ID: 'TEAM123456',
      TESSERA_OAUTH_APPLE_KEY_ID: 'KEY1234567',
      // on one line, as many environments need it
      TESSERA_OAUTH_APPLE_PRIVATE_KEY: pem.trim().replaceAll('\n', '\\n'),
    }
    const [preset] = parseConfig({ ...base, ...apple }).oauthProviders
    expect(preset).toMatchObject({
      name: 'Apple',
      protocol: 'oidc',
      issuer: 'https://appleid.apple.com',
      scope: 'openid email name',
      tokenAuth: 'client_secret_post',
      responseMode: 'form_post',
      emailVerifiedString: true,
      signedSecret: { teamId: 'TEAM123456', keyId: 'KEY1234567', privateKey: pem.trim() },
    })
    expect(problems({ ...apple, TESSERA_OAUTH_APPLE_TEAM_ID: '' })).toHaveProperty(
      'TESSERA_OAUTH_APPLE_TEAM_ID',
    )
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
    for (const bad of ['not a key', rsa]) {
      const found = problems({ ...apple, TESSERA_OAUTH_APPLE_PRIVATE_KEY: bad })
      expect(found).toEqual({ TESSERA_OAUTH_APPLE_PRIVATE_KEY: expect.stringContaining('P-256') })
      expect(JSON.stringify(found)).not.toContain('PRIVATE KEY-----')
    }
    expect(
      problems({
        TESSERA_OAUTH_PROVIDERS: 'acme',
        TESSERA_OAUTH_ACME_ISSUER: 'https://id.acme.example',
        TESSERA_OAUTH_ACME_CLIENT_ID: 'c',
        TESSERA_OAUTH_ACME_CLIENT_SECRET: 's',
        TESSERA_OAUTH_ACME_TEAM_ID: 'T',
      }),
    ).toEqual({ TESSERA_OAUTH_ACME_TEAM_ID: 'is read only for the apple preset' })
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
