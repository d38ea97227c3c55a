import type { FetchLike } from '../../src/index.js'

/** One request the fake received. */
export interface SeenRequest {
  method: string
  path: string
  headers: Headers
  body: unknown
}

export const PASSKEY_FAKE = {
  baseUrl: 'http://tessera.test',
  email: 'ada@example.com',
  password: 'correct horse battery staple',
  /** What the fake's stub authenticator answers; the fake accepts only it. */
  credentialId: 'cred-1',
  ttl: 900,
} as const

const problem = (status: number, code: string) =>
  new Response(JSON.stringify({ type: 'about:blank', title: 'Error', status, code, detail: code }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  })

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export interface FakePasskeyServer {
  fetch: FetchLike
  requests: SeenRequest[]
  to(path: string): SeenRequest[]
  /** The passkeys registered so far. */
  readonly passkeys: { id: string; name: string }[]
}

/**
 * A fake Tessera for the passkey routes, in process. Options carry a challenge `ch-N`; a response
 * is accepted when its `id` is {@link PASSKEY_FAKE.credentialId} and its `challenge` the options'
 * (the stub authenticator copies it). Login answers `mfa_required` with `passkey` once one is
 * registered.
 */
export function createFakePasskeyServer(): FakePasskeyServer {
  const requests: SeenRequest[] = []
  const passkeys: { id: string; name: string }[] = []
  const challenges = new Map<string, { challenge: string; purpose: string; used: boolean }>()
  const grants = new Map<string, { amr: string[] }>()
  let serial = 0

  const user = {
    id: '0d5c1f6e-5b8a-4c8e-9a43-2f4a3f0e8b11',
    email: PASSKEY_FAKE.email,
    name: null,
    roles: ['user'],
    emailVerified: true,
    createdAt: '2025-01-01T00:00:00.000Z',
  }

  function issue(amr: string[], delivery: unknown, withRefresh = true): Response {
    serial += 1
    const accessToken = `access-${serial}`
    grants.set(accessToken, { amr })
    const body = { user, accessToken, tokenType: 'Bearer', expiresIn: PASSKEY_FAKE.ttl }
    return json(
      200,
      withRefresh && delivery === 'body' ? { ...body, refreshToken: `refresh-${serial}` } : body,
    )
  }

  function ceremony(purpose: string, options: Record<string, unknown>): Response {
    serial += 1
    const challengeId = `challenge-${serial}`
    const challenge = `ch-${serial}`
    challenges.set(challengeId, { challenge, purpose, used: false })
    return json(200, { challengeId, options: { challenge, ...options } })
  }

  /** The answer is the stub authenticator's, to the challenge of `challengeId` made for `purpose`. */
  function answers(body: Record<string, unknown>, field: string, purpose: string): Response | undefined {
    const held = challenges.get(String(body.challengeId))
    if (!held || held.used || held.purpose !== purpose) return problem(400, 'CHALLENGE_INVALID')
    held.used = true
    const answer = body[field]
    if (!isRecord(answer) || answer.id !== PASSKEY_FAKE.credentialId || answer.challenge !== held.challenge) {
      return problem(401, purpose === 'register' ? 'ATTESTATION_INVALID' : 'PASSKEY_INVALID')
    }
    return undefined
  }

  function tessera(method: string, path: string, request: Request, body: unknown): Response {
    const record = isRecord(body) ? body : {}
    if (method === 'POST' && path === '/auth/login') {
      if (record.email !== PASSKEY_FAKE.email || record.password !== PASSKEY_FAKE.password) {
        return problem(401, 'INVALID_CREDENTIALS')
      }
      if (passkeys.length > 0)
        return json(200, { status: 'mfa_required', mfaToken: 'mfa-1', methods: ['passkey'] })
      return issue(['pwd'], record.tokenDelivery)
    }
    if (method === 'POST' && path === '/auth/passkeys/login/options') {
      return ceremony('login', { rpId: 'tessera.test', userVerification: 'required' })
    }
    if (method === 'POST' && path === '/auth/passkeys/login/verify') {
      return answers(record, 'response', 'login') ?? issue(['hwk', 'user', 'mfa'], record.tokenDelivery)
    }
    if (method === 'POST' && path === '/auth/mfa/passkey/options' && record.mfaToken !== undefined) {
      if (record.mfaToken !== 'mfa-1') return problem(401, 'MFA_TOKEN_INVALID')
      return ceremony('mfa', { allowCredentials: [{ id: PASSKEY_FAKE.credentialId, type: 'public-key' }] })
    }
    if (method === 'POST' && path === '/auth/mfa/verify') {
      if (record.mfaToken !== 'mfa-1') return problem(401, 'MFA_TOKEN_INVALID')
      return answers(record, 'passkey', 'mfa') ?? issue(['pwd', 'hwk', 'user', 'mfa'], record.tokenDelivery)
    }
    const token = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
    if (token === undefined || !grants.has(token)) return problem(401, 'TOKEN_INVALID')
    if (method === 'POST' && path === '/auth/mfa/passkey/options') {
      return ceremony('step-up', {
        allowCredentials: [{ id: PASSKEY_FAKE.credentialId, type: 'public-key' }],
      })
    }
    if (method === 'POST' && path === '/auth/mfa/step-up') {
      return answers(record, 'passkey', 'step-up') ?? issue(['pwd', 'hwk', 'user', 'mfa'], undefined, false)
    }
    if (method === 'POST' && path === '/auth/passkeys/register/options') {
      return ceremony('register', { rp: { id: 'tessera.test', name: 'Tessera' }, excludeCredentials: [] })
    }
    if (method === 'POST' && path === '/auth/passkeys/register/verify') {
      const refused = answers(record, 'response', 'register')
      if (refused) return refused
      serial += 1
      const passkey = {
        id: `passkey-${serial}`,
        name: typeof record.name === 'string' ? record.name : 'Passkey 1',
      }
      passkeys.push(passkey)
      return json(201, { passkey: { ...passkey, createdAt: '2025-01-02T00:00:00.000Z' } })
    }
    if (method === 'GET' && path === '/auth/passkeys') {
      return json(200, {
        passkeys: passkeys.map((passkey) => ({
          ...passkey,
          createdAt: '2025-01-02T00:00:00.000Z',
          lastUsedAt: null,
          backedUp: false,
        })),
      })
    }
    const deleted = /^\/auth\/passkeys\/([^/]+)$/.exec(path)
    if (method === 'DELETE' && deleted) {
      const index = passkeys.findIndex((passkey) => passkey.id === deleted[1])
      if (index < 0) return problem(404, 'NOT_FOUND')
      passkeys.splice(index, 1)
      return new Response(null, { status: 204 })
    }
    return problem(404, 'NOT_FOUND')
  }

  const fetchImpl: FetchLike = async (input, init) => {
    const request = new Request(input, init)
    const url = new URL(request.url)
    const text = await request.text()
    const body: unknown = text === '' ? undefined : JSON.parse(text)
    requests.push({ method: request.method, path: url.pathname, headers: new Headers(request.headers), body })
    return tessera(request.method, url.pathname, request, body)
  }

  return {
    fetch: fetchImpl,
    requests,
    to: (path) => requests.filter((request) => request.path === path),
    get passkeys() {
      return passkeys
    },
  }
}
