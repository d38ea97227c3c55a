import { availableParallelism } from 'node:os'
import { describe, expect, it } from 'vitest'
import { ConfigError, defaultHashConcurrency, parseConfig, parseDuration } from '../src/config.js'

const STRONG_SECRET = 'Zq3v8N1xR7kPw2LmT9yB4cHd6FgJs0Ue'
const CWD = '/srv/tessera'

const parse = (env: Record<string, string | undefined>) => parseConfig(env, CWD)

/** The ConfigError `env` causes (failing the test when there is none). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    parse(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`)
}

/** Asserts that `env` is refused with a message that starts with the variable's name. */
function expectRefused(env: Record<string, string | undefined>, variable: string, text?: RegExp): void {
  const error = configError(env)
  expect(error.variable).toBe(variable)
  expect(error.message.startsWith(`${variable}: `)).toBe(true)
  if (text) expect(error.message).toMatch(text)
}

describe('parseDuration', () => {
  it('reads plain seconds and s, m, h, d suffixes', () => {
    expect(parseDuration('X', '900')).toBe(900)
    expect(parseDuration('X', '0')).toBe(0)
    expect(parseDuration('X', '45s')).toBe(45)
    expect(parseDuration('X', '15m')).toBe(900)
    expect(parseDuration('X', '12h')).toBe(43_200)
    expect(parseDuration('X', '7d')).toBe(604_800)
    expect(parseDuration('X', ' 30d ')).toBe(2_592_000)
  })

  it.each(['soon', '', '15 m', '1.5h', '-5', '15min', '7D', 'm', '15m30s'])(
    'refuses %j naming the variable',
    (raw) => {
      expect(() => parseDuration('TESSERA_ACCESS_TOKEN_TTL', raw)).toThrow(
        expect.objectContaining({ variable: 'TESSERA_ACCESS_TOKEN_TTL' }),
      )
    },
  )

  it('refuses a duration too large to count in seconds', () => {
    expect(() => parseDuration('X', '99999999999999999d')).toThrow(/too large/)
  })
})

describe('parseConfig defaults (API.md, Configuration)', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = parse({})
    expect(config).toMatchObject({
      production: false,
      port: 3000,
      host: '127.0.0.1',
      publicUrl: 'http://localhost:3000',
      dataDir: '/srv/tessera/.tessera',
      database: { kind: 'pglite-dir', dir: '/srv/tessera/.tessera/pgdata' },
      redisUrl: undefined,
      secret: undefined,
      audience: 'tessera',
      accessTokenTtl: 900,
      refreshIdleTtl: 7 * 86_400,
      sessionMaxAge: 30 * 86_400,
      refreshReuseGrace: 10,
      signingAlg: 'RS256',
      databasePoolSize: 10,
      hs256Secret: undefined,
      keyRotation: 30 * 86_400,
      passwordMinLength: 8,
      passwordMaxLength: 256,
      requireEmailVerification: false,
      magicLink: false,
      magicLinkTtl: 15 * 60,
      resetTokenTtl: 15 * 60,
      verifyTokenTtl: 24 * 3600,
      trustProxy: [],
      metricsToken: undefined,
      allowedOrigins: ['http://localhost:3000'],
      rateLimit: true,
      smtpUrl: undefined,
    })
    expect(config.resetUrl).toBe('http://localhost:3000/reset-password')
    expect(config.verifyUrl).toBe('http://localhost:3000/verify-email')
    expect(config.magicLinkUrl).toBe('http://localhost:3000/magic-link')
  })

  it('hashes one password more at once than there are cores, keeping one libuv thread free', () => {
    const cores = availableParallelism()
    expect(parse({}).hashing).toEqual({
      concurrency: Math.min(cores + 1, 3),
      loopDelay: null,
      maxQueue: 64,
      maxWait: 2,
    })
    expect(parse({ UV_THREADPOOL_SIZE: '2' }).hashing.concurrency).toBe(1)
    expect(parse({ UV_THREADPOOL_SIZE: '64' }).hashing.concurrency).toBe(cores + 1)
    // workers (serve --workers N) share the cores: each its share, no extra one
    expect(defaultHashConcurrency({ UV_THREADPOOL_SIZE: '64' }, 2)).toBe(Math.max(1, Math.floor(cores / 2)))
    expect(defaultHashConcurrency({}, 2 * cores)).toBe(1)
    expect(
      parse({
        TESSERA_HASH_CONCURRENCY: '6',
        TESSERA_HASH_LOOP_DELAY: '12',
        TESSERA_HASH_QUEUE: '0',
        TESSERA_HASH_QUEUE_TIMEOUT: '5s',
      }).hashing,
    ).toEqual({ concurrency: 6, loopDelay: 12, maxQueue: 0, maxWait: 5 })
    expect(parse({ TESSERA_HASH_LOOP_DELAY: 'off' }).hashing.loopDelay).toBeNull()
  })

  it('is frozen', () => {
    const config = parse({})
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('treats an empty or blank variable as unset', () => {
    const config = parse({ PORT: '', TESSERA_AUDIENCE: '   ', TESSERA_ACCESS_TOKEN_TTL: '' })
    expect(config.port).toBe(3000)
    expect(config.audience).toBe('tessera')
    expect(config.accessTokenTtl).toBe(900)
  })

  it('reads only the environment it is given, never process.env', () => {
    const saved = process.env.TESSERA_AUDIENCE
    process.env.TESSERA_AUDIENCE = 'from-process-env'
    try {
      expect(parse({}).audience).toBe('tessera')
    } finally {
      if (saved === undefined) delete process.env.TESSERA_AUDIENCE
      else process.env.TESSERA_AUDIENCE = saved
    }
  })

  it('derives the public URL and the allowed origins from PORT', () => {
    const config = parse({ PORT: '8080' })
    expect(config.publicUrl).toBe('http://localhost:8080')
    expect(config.allowedOrigins).toEqual(['http://localhost:8080'])
  })

  it('resolves TESSERA_DATA_DIR against the working directory', () => {
    expect(parse({ TESSERA_DATA_DIR: 'data' }).database).toEqual({
      kind: 'pglite-dir',
      dir: '/srv/tessera/data/pgdata',
    })
    expect(parse({ TESSERA_DATA_DIR: '/var/lib/tessera' }).dataDir).toBe('/var/lib/tessera')
  })
})

describe('parseConfig values', () => {
  it('reads the token lifetimes in seconds or with units', () => {
    const config = parse({
      TESSERA_ACCESS_TOKEN_TTL: '600',
      TESSERA_REFRESH_IDLE_TTL: '2d',
      TESSERA_SESSION_MAX_AGE: '14d',
      TESSERA_REFRESH_REUSE_GRACE: '0',
    })
    expect(config.accessTokenTtl).toBe(600)
    expect(config.refreshIdleTtl).toBe(172_800)
    expect(config.sessionMaxAge).toBe(1_209_600)
    expect(config.refreshReuseGrace).toBe(0)
  })

  it('keeps the path of the public URL (Tessera behind a proxy) and drops trailing slashes', () => {
    const config = parse({ TESSERA_PUBLIC_URL: 'https://example.com/api/' })
    expect(config.publicUrl).toBe('https://example.com/api')
    // an origin has no path
    expect(config.allowedOrigins).toEqual(['https://example.com'])
    expect(config.resetUrl).toBe('https://example.com/api/reset-password')
    expect(parse({ TESSERA_PUBLIC_URL: 'https://auth.example.com/' }).publicUrl).toBe(
      'https://auth.example.com',
    )
  })

  it('reads a comma-separated list of allowed origins', () => {
    const config = parse({
      TESSERA_ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com:8443/',
    })
    expect(config.allowedOrigins).toEqual(['https://app.example.com', 'https://admin.example.com:8443'])
  })

  it('chooses the database from DATABASE_URL', () => {
    expect(parse({ DATABASE_URL: 'memory://' }).database).toEqual({ kind: 'pglite-memory' })
    expect(parse({ DATABASE_URL: 'postgres://u:p@db:5432/tessera' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u:p@db:5432/tessera',
    })
    expect(parse({ DATABASE_URL: 'postgresql://db/tessera' }).database.kind).toBe('postgres')
  })

  it('accepts ES256, EdDSA, and HS256 with a strong shared secret', () => {
    expect(parse({ TESSERA_SIGNING_ALG: 'ES256' }).signingAlg).toBe('ES256')
    expect(parse({ TESSERA_SIGNING_ALG: 'EdDSA' }).signingAlg).toBe('EdDSA')
    const hs = parse({ TESSERA_SIGNING_ALG: 'HS256', TESSERA_HS256_SECRET: STRONG_SECRET })
    expect(hs).toMatchObject({ signingAlg: 'HS256', hs256Secret: STRONG_SECRET })
  })

  it('turns key rotation and rate limits off with "off"', () => {
    const config = parse({ TESSERA_KEY_ROTATION: 'off', TESSERA_RATE_LIMIT: 'off' })
    expect(config.keyRotation).toBeNull()
    expect(config.rateLimit).toBe(false)
    expect(parse({ TESSERA_RATE_LIMIT: 'on' }).rateLimit).toBe(true)
  })

  it('prepares hot statements unless TESSERA_DB_PREPARED_STATEMENTS is off', () => {
    expect(parse({}).databasePreparedStatements).toBe(true)
    expect(parse({ TESSERA_DB_PREPARED_STATEMENTS: 'off' }).databasePreparedStatements).toBe(false)
  })

  it('accepts trusted proxies as addresses and CIDRs', () => {
    expect(parse({ TESSERA_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
    ])
  })

  it('accepts production with a strong secret and an https public URL, or localhost over http', () => {
    const production = { NODE_ENV: 'production', TESSERA_SECRET: STRONG_SECRET }
    const config = parse({ ...production, TESSERA_PUBLIC_URL: 'https://auth.example.com' })
    expect(config).toMatchObject({
      production: true,
      secret: STRONG_SECRET,
      publicUrl: 'https://auth.example.com',
    })
    expect(parse({ ...production, TESSERA_PUBLIC_URL: 'http://localhost:3000' }).production).toBe(true)
    expect(parse({ ...production, TESSERA_PUBLIC_URL: 'http://127.0.0.1:3000' }).production).toBe(true)
  })
})

describe('parseConfig refuses invalid values, naming the variable', () => {
  it.each<[string, Record<string, string>, string, RegExp?]>([
    ['a port that is not a number', { PORT: 'abc' }, 'PORT', /whole number from 0 to 65535, got "abc"/],
    ['a port out of range', { PORT: '70000' }, 'PORT'],
    ['an SMTP_URL that is not smtp(s)', { SMTP_URL: 'http://mail.example.com' }, 'SMTP_URL', /smtp:\/\//],
    ['a duration that is not one', { TESSERA_ACCESS_TOKEN_TTL: 'soon' }, 'TESSERA_ACCESS_TOKEN_TTL', /15m/],
    ['an access-token lifetime of 0 s', { TESSERA_ACCESS_TOKEN_TTL: '0' }, 'TESSERA_ACCESS_TOKEN_TTL'],
    [
      'a refresh idle timeout over the session age',
      { TESSERA_REFRESH_IDLE_TTL: '60d' },
      'TESSERA_REFRESH_IDLE_TTL',
    ],
    ['a reuse grace over 5 minutes', { TESSERA_REFRESH_REUSE_GRACE: '10m' }, 'TESSERA_REFRESH_REUSE_GRACE'],
    ['a key rotation under an hour', { TESSERA_KEY_ROTATION: '30m' }, 'TESSERA_KEY_ROTATION'],
    ['an unknown signing algorithm', { TESSERA_SIGNING_ALG: 'PS999' }, 'TESSERA_SIGNING_ALG', /RS256, ES256/],
    ['the algorithm "none"', { TESSERA_SIGNING_ALG: 'none' }, 'TESSERA_SIGNING_ALG'],
    ['HS256 without a shared secret', { TESSERA_SIGNING_ALG: 'HS256' }, 'TESSERA_HS256_SECRET', /required/],
    [
      'HS256 with a short shared secret',
      { TESSERA_SIGNING_ALG: 'HS256', TESSERA_HS256_SECRET: 'short' },
      'TESSERA_HS256_SECRET',
      /at least 32/,
    ],
    ['a shared secret without HS256', { TESSERA_HS256_SECRET: STRONG_SECRET }, 'TESSERA_HS256_SECRET'],
    ['a MySQL database URL', { DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', /postgres:\/\//],
    ['a Redis URL of another scheme', { REDIS_URL: 'http://redis' }, 'REDIS_URL'],
    [
      'a public URL that is not http(s)',
      { TESSERA_PUBLIC_URL: 'ftp://auth.example.com' },
      'TESSERA_PUBLIC_URL',
    ],
    ['a public URL that is not a URL', { TESSERA_PUBLIC_URL: 'auth.example.com' }, 'TESSERA_PUBLIC_URL'],
    ['a public URL with a query', { TESSERA_PUBLIC_URL: 'https://a.example.com/?x=1' }, 'TESSERA_PUBLIC_URL'],
    [
      'an allowed origin with a path',
      { TESSERA_ALLOWED_ORIGINS: 'https://a.example.com/app' },
      'TESSERA_ALLOWED_ORIGINS',
    ],
    ['a weak TESSERA_SECRET even outside production', { TESSERA_SECRET: 'short' }, 'TESSERA_SECRET'],
    ['a placeholder TESSERA_SECRET', { TESSERA_SECRET: 'x'.repeat(40) }, 'TESSERA_SECRET', /placeholder/],
    [
      'a min password length over the max',
      { TESSERA_PASSWORD_MIN_LENGTH: '20', TESSERA_PASSWORD_MAX_LENGTH: '10' },
      'TESSERA_PASSWORD_MIN_LENGTH',
    ],
    ['a rate-limit switch that is neither on nor off', { TESSERA_RATE_LIMIT: 'maybe' }, 'TESSERA_RATE_LIMIT'],
    ['a trusted proxy that is a hostname', { TESSERA_TRUST_PROXY: 'proxy.internal' }, 'TESSERA_TRUST_PROXY'],
    ['an unknown log level', { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    ['no password hashing at all', { TESSERA_HASH_CONCURRENCY: '0' }, 'TESSERA_HASH_CONCURRENCY'],
    ['a database pool of no connections', { TESSERA_DB_POOL_SIZE: '0' }, 'TESSERA_DB_POOL_SIZE'],
    [
      'a prepared-statements switch that is neither on nor off',
      { TESSERA_DB_PREPARED_STATEMENTS: 'yes' },
      'TESSERA_DB_PREPARED_STATEMENTS',
    ],
    [
      'a hashing loop delay that is not milliseconds',
      { TESSERA_HASH_LOOP_DELAY: '10ms' },
      'TESSERA_HASH_LOOP_DELAY',
    ],
    ['a hashing queue that is not a count', { TESSERA_HASH_QUEUE: 'lots' }, 'TESSERA_HASH_QUEUE'],
    ['a hashing wait of 0 s', { TESSERA_HASH_QUEUE_TIMEOUT: '0' }, 'TESSERA_HASH_QUEUE_TIMEOUT'],
  ])('%s', (_what, env, variable, text) => {
    expectRefused(env, variable, text)
  })

  it('requires TESSERA_SECRET in production', () => {
    expectRefused(
      { NODE_ENV: 'production', TESSERA_PUBLIC_URL: 'https://auth.example.com' },
      'TESSERA_SECRET',
      /required in production/,
    )
  })

  it('requires an explicit TESSERA_PUBLIC_URL in production', () => {
    expectRefused(
      { NODE_ENV: 'production', TESSERA_SECRET: STRONG_SECRET },
      'TESSERA_PUBLIC_URL',
      /required in production/,
    )
  })

  it('refuses a weak TESSERA_SECRET in production', () => {
    expectRefused(
      { NODE_ENV: 'production', TESSERA_PUBLIC_URL: 'https://auth.example.com', TESSERA_SECRET: 'short' },
      'TESSERA_SECRET',
      /at least 32/,
    )
  })

  it('refuses a plain-http public URL in production unless it is localhost', () => {
    expectRefused(
      {
        NODE_ENV: 'production',
        TESSERA_SECRET: STRONG_SECRET,
        TESSERA_PUBLIC_URL: 'http://auth.example.com',
      },
      'TESSERA_PUBLIC_URL',
      /https/,
    )
  })
})

describe('parseConfig reports every invalid variable at once', () => {
  it('lists two bad variables, each with what it expects, in the order of the table', () => {
    const error = configError({ TESSERA_ACCESS_TOKEN_TTL: 'soon', PORT: 'abc' })
    expect(error.errors).toEqual([
      { variable: 'PORT', message: 'expected a whole number from 0 to 65535, got "abc"' },
      {
        variable: 'TESSERA_ACCESS_TOKEN_TTL',
        message: 'expected a duration such as 900, 15m, 12h or 7d, got "soon"',
      },
    ])
    expect(error.variable).toBe('PORT')
    expect(error.message).toBe(
      '2 configuration variables are invalid:\n' +
        '  PORT: expected a whole number from 0 to 65535, got "abc"\n' +
        '  TESSERA_ACCESS_TOKEN_TTL: expected a duration such as 900, 15m, 12h or 7d, got "soon"',
    )
  })

  it('reports broken rules across variables beside values that do not parse', () => {
    const error = configError({
      NODE_ENV: 'production',
      TESSERA_HEADERS_TIMEOUT: '1m',
      DATABASE_URL: 'mysql://x',
      TESSERA_SIGNING_ALG: 'HS256',
    })
    expect(error.errors.map((e) => e.variable)).toEqual([
      'TESSERA_PUBLIC_URL',
      'TESSERA_HEADERS_TIMEOUT',
      'TESSERA_SECRET',
      'TESSERA_HS256_SECRET',
      'DATABASE_URL',
    ])
  })

  it('says nothing of values derived from a bad one (a bad PORT does not make the public URL bad)', () => {
    // TESSERA_PUBLIC_URL, the allowed origins, the mailed links and MAIL_FROM all derive from PORT
    expect(configError({ PORT: 'abc' }).errors.map((e) => e.variable)).toEqual(['PORT'])
  })

  it('checks the variables a bad one does not feed (an explicit origin list with a bad public URL)', () => {
    const error = configError({
      TESSERA_PUBLIC_URL: 'auth.example.com',
      TESSERA_ALLOWED_ORIGINS: 'https://a.example.com/app',
    })
    expect(error.errors.map((e) => e.variable)).toEqual(['TESSERA_PUBLIC_URL', 'TESSERA_ALLOWED_ORIGINS'])
  })
})
