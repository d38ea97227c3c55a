import type { FetchLike } from '../../src/index.js'

/** One request the fake received. */
export interface SeenMfaRequest {
  method: string
  path: string
  headers: Headers
  credentials: RequestCredentials | undefined
  /** The body parsed as JSON, or undefined when there was none. */
  body: unknown
}

export const MFA_FAKE = {
  baseUrl: 'http://tessera.test',
  apiUrl: 'http://api.test',
  /** An account with TOTP on: login answers mfa_required. */
  email: 'ada@example.com',
  /** An account without a second factor. */
  plainEmail: 'grace@example.com',
  password: 'correct horse battery staple',
  /** The one TOTP code the fake accepts (its "current" code). */
  code: '123456',
  /** The magic-link tokens the fake accepts, once each: for the account with TOTP, and without. */
  magicToken: 'magic-link-token-of-ada',
  plainMagicToken: 'magic-link-token-of-grace',
  recoveryCodes: Array.from({ length: 10 }, (_, i) => `rc${i}-aaaa-bbbb`),
  secret: 'JBSWY3DPEHPK3PXP',
  otpauthUri: 'otpauth://totp/Tessera:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Tessera',
  qrSvg: '<svg xmlns="http://www.w3.org/2000/svg"/>',
  ttl: 900,
  /** The middleware's challenge for `authorize({ mfa: true, maxAge: 300 })`. */
  apiChallenge:
    'Bearer realm="tessera", error="insufficient_user_authentication", error_description="A recent sign-in with a second factor is required", acr_values="urn:tessera:mfa", max_age="300"',
  /** The server's challenge on a "Bearer, recent" route. */
  recentChallenge:
    'Bearer error="insufficient_user_authentication", error_description="A recent sign-in is required", max_age="300"',
} as const

/** What the fake knows of one access token. */
interface Grant {
  email: string
  /** Signed in with two factors (acr urn:tessera:mfa). */
  mfa: boolean
  /** auth_time within the last 5 minutes. */
  recent: boolean
}

export interface FakeMfaServer {
  /** A fetch that answers for {@link MFA_FAKE.baseUrl} (Tessera) and {@link MFA_FAKE.apiUrl} (an API). */
  fetch: FetchLike
  requests: SeenMfaRequest[]
  to(path: string): SeenMfaRequest[]
  /** Every sign-in so far becomes older than 5 minutes. */
  ageSignIns(): void
  /** Whether {@link MFA_FAKE.email} has TOTP on (default at start; `confirmTotp` switches it on). */
  readonly totpOn: boolean
}

const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: 'about:blank', title: 'Error', status, code, detail: code }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  })

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The body has only `allowed` keys, each a non-empty string. */
const shaped = (body: unknown, allowed: readonly string[]): body is Record<string, string> =>
  isRecord(body) &&
  Object.entries(body).every(
    ([key, value]) => allowed.includes(key) && typeof value === 'string' && value !== '',
  )

/** A fake Tessera with TOTP, in process (a fetch, no port), plus an API behind the middleware. */
export function createFakeMfaServer(options: { totpOn?: boolean } = {}): FakeMfaServer {
  const requests: SeenMfaRequest[] = []
  const grants = new Map<string, Grant>()
  const mfaTokens = new Map<string, { wrong: number }>()
  const usedRecovery = new Set<string>()
  const usedMagicTokens = new Set<string>()
  let totpOn = options.totpOn ?? true
  let serial = 0

  const user = (email: string) => ({
    id: '0d5c1f6e-5b8a-4c8e-9a43-2f4a3f0e8b11',
    email,
    name: null,
    roles: ['user'],
    emailVerified: true,
    createdAt: '2025-01-01T00:00:00.000Z',
  })

  function issue(grant: Grant, delivery: string | undefined, withRefresh = true): Response {
    serial += 1
    const accessToken = `access-${serial}`
    grants.set(accessToken, grant)
    const body = { user: user(grant.email), accessToken, tokenType: 'Bearer', expiresIn: MFA_FAKE.ttl }
    if (!withRefresh) return json(200, body)
    const refreshToken = `refresh-${serial}`
    if (delivery === 'body') return json(200, { ...body, refreshToken })
    return json(200, body, { 'set-cookie': `tessera_refresh=${refreshToken}; Path=/auth; HttpOnly` })
  }

  const bearer = (request: Request): Grant | undefined => {
    const token = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
    return token === undefined ? undefined : grants.get(token)
  }

  function tessera(method: string, path: string, request: Request, body: unknown): Response {
    if (method === 'POST' && path === '/auth/login') {
      if (!shaped(body, ['email', 'password', 'tokenDelivery'])) return problem(400, 'VALIDATION_FAILED')
      const known = body.email === MFA_FAKE.email || body.email === MFA_FAKE.plainEmail
      if (!known || body.password !== MFA_FAKE.password) return problem(401, 'INVALID_CREDENTIALS')
      if (body.email === MFA_FAKE.email && totpOn) {
        serial += 1
        const mfaToken = `mfa-token-${serial}`
        mfaTokens.set(mfaToken, { wrong: 0 })
        return json(200, { status: 'mfa_required', mfaToken, methods: ['totp', 'recovery_code'] })
      }
      return issue({ email: body.email as string, mfa: false, recent: true }, body.tokenDelivery)
    }
    if (method === 'POST' && path === '/auth/magic-link/verify') {
      if (!shaped(body, ['token', 'tokenDelivery'])) return problem(400, 'VALIDATION_FAILED')
      const known = body.token === MFA_FAKE.magicToken || body.token === MFA_FAKE.plainMagicToken
      if (!known || usedMagicTokens.has(body.token ?? '')) return problem(400, 'ONE_TIME_TOKEN_INVALID')
      usedMagicTokens.add(body.token ?? '')
      if (body.token === MFA_FAKE.magicToken && totpOn) {
        serial += 1
        const mfaToken = `mfa-token-${serial}`
        mfaTokens.set(mfaToken, { wrong: 0 })
        return json(200, { status: 'mfa_required', mfaToken, methods: ['totp', 'recovery_code'] })
      }
      const email = body.token === MFA_FAKE.magicToken ? MFA_FAKE.email : MFA_FAKE.plainEmail
      return issue({ email, mfa: false, recent: true }, body.tokenDelivery)
    }
    if (method === 'POST' && path === '/auth/mfa/verify') {
      if (!shaped(body, ['mfaToken', 'code', 'recoveryCode', 'tokenDelivery'])) {
        return problem(400, 'VALIDATION_FAILED')
      }
      const pending = mfaTokens.get(body.mfaToken ?? '')
      if (!pending) return problem(401, 'MFA_TOKEN_INVALID')
      const recovery = body.recoveryCode
      const right =
        body.code === MFA_FAKE.code ||
        (recovery !== undefined &&
          (MFA_FAKE.recoveryCodes as readonly string[]).includes(recovery) &&
          !usedRecovery.has(recovery))
      if (!right) {
        pending.wrong += 1
        // 5 wrong codes kill the mfaToken
        if (pending.wrong >= 5) mfaTokens.delete(body.mfaToken ?? '')
        return problem(401, 'MFA_CODE_INVALID')
      }
      if (recovery !== undefined) usedRecovery.add(recovery)
      mfaTokens.delete(body.mfaToken ?? '')
      return issue({ email: MFA_FAKE.email, mfa: true, recent: true }, body.tokenDelivery)
    }
    if (method === 'POST' && path === '/auth/refresh') {
      // a refresh keeps the session's acr and auth_time: it never cures a step-up
      return issue({ email: MFA_FAKE.email, mfa: false, recent: false }, isRecord(body) ? 'body' : 'cookie')
    }
    const grant = bearer(request)
    if (!grant) return problem(401, 'TOKEN_INVALID')
    if (method === 'GET' && path === '/auth/mfa') {
      return json(200, { totp: totpOn, passkeys: 0, recoveryCodesLeft: 10 - usedRecovery.size })
    }
    if (method === 'POST' && path === '/auth/mfa/totp/setup') {
      if (!grant.recent) {
        return problem(401, 'STEP_UP_REQUIRED', { 'www-authenticate': MFA_FAKE.recentChallenge })
      }
      if (totpOn) return problem(409, 'TOTP_ALREADY_ENABLED')
      return json(200, { secret: MFA_FAKE.secret, otpauthUri: MFA_FAKE.otpauthUri, qrSvg: MFA_FAKE.qrSvg })
    }
    if (method === 'POST' && path === '/auth/mfa/totp/confirm') {
      if (!shaped(body, ['code'])) return problem(400, 'VALIDATION_FAILED')
      if (body.code !== MFA_FAKE.code) return problem(401, 'MFA_CODE_INVALID')
      totpOn = true
      return json(200, { recoveryCodes: MFA_FAKE.recoveryCodes })
    }
    if (method === 'POST' && path === '/auth/mfa/step-up') {
      if (!shaped(body, ['code', 'recoveryCode', 'password']) || Object.keys(body).length !== 1) {
        return problem(400, 'VALIDATION_FAILED')
      }
      if (body.password !== undefined) {
        if (body.password !== MFA_FAKE.password) return problem(401, 'INVALID_CREDENTIALS')
        // a password meets max_age, never acr_values
        return issue({ ...grant, recent: true }, undefined, false)
      }
      if (body.code !== MFA_FAKE.code) return problem(401, 'MFA_CODE_INVALID')
      return issue({ ...grant, mfa: true, recent: true }, undefined, false)
    }
    return problem(404, 'NOT_FOUND')
  }

  /** The API: `/payouts` behind `authorize({ mfa: true, maxAge: 300 })`, `/rfc9470` a bare challenge. */
  function api(path: string, request: Request): Response {
    const grant = bearer(request)
    if (!grant) return problem(401, 'TOKEN_INVALID', { 'www-authenticate': 'Bearer error="invalid_token"' })
    if (grant.mfa && grant.recent) return json(200, { ok: true })
    if (path === '/payouts') {
      return problem(401, 'STEP_UP_REQUIRED', { 'www-authenticate': MFA_FAKE.apiChallenge })
    }
    // another RFC 9470 resource server: the challenge alone, a plain-text body
    return new Response('step up', {
      status: 401,
      headers: {
        'www-authenticate': 'Bearer max_age=60, error=insufficient_user_authentication, acr_values="a b"',
      },
    })
  }

  const fetchImpl: FetchLike = async (input, init) => {
    const request = new Request(input, init)
    const url = new URL(request.url)
    const text = await request.text()
    const body: unknown = text === '' ? undefined : JSON.parse(text)
    requests.push({
      method: request.method,
      path: url.pathname,
      headers: new Headers(request.headers),
      credentials: init?.credentials,
      body,
    })
    if (url.origin === MFA_FAKE.apiUrl) return api(url.pathname, request)
    return tessera(request.method, url.pathname, request, body)
  }

  return {
    fetch: fetchImpl,
    requests,
    to: (path) => requests.filter((request) => request.path === path),
    ageSignIns() {
      for (const grant of grants.values()) grant.recent = false
    },
    get totpOn() {
      return totpOn
    },
  }
}
