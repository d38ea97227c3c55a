import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the fake received. */
export interface SeenRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** The body parsed as JSON, or the raw text when it is not JSON. */
  body: unknown
}

/** An answer to send instead of the contract's, once. */
export interface CannedAnswer {
  status: number
  headers?: Record<string, string>
  body?: string
}

/**
 * A node:http server that speaks exactly the account-recovery contract, with
 * TESSERA_REQUIRE_EMAIL_VERIFICATION=true: just enough of login and refresh to hold a session,
 * and the password and email endpoints. Known values: {@link FAKE}.
 */
export interface FakeAccountServer {
  baseUrl: string
  requests: SeenRequest[]
  /** The requests to `path`, in order. */
  to(path: string): SeenRequest[]
  /** Answers the next request to `path` with `answer` instead of the contract's. */
  answerNext(path: string, answer: CannedAnswer): void
  /** Every access token issued so far is answered with 401 TOKEN_EXPIRED from now on. */
  expireAccessTokens(): void
  /** The current password of {@link FAKE.email}. */
  readonly password: string
  close(): Promise<void>
}

export const FAKE = {
  email: 'ada@example.com',
  /** An account that exists but never verified its address. */
  unverifiedEmail: 'unverified@example.com',
  password: 'correct horse battery staple',
  /** The one reset token and the one verification token the fake accepts, each once. */
  resetToken: 'reset-token-from-the-mail',
  verifyToken: 'verify-token-from-the-mail',
  /** A password the policy refuses. */
  weakPassword: 'password1234',
  weakDetail: 'This password is on a list of common passwords; choose another one.',
  ttl: 900,
} as const

function problem(
  res: ServerResponse,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
) {
  res.writeHead(status, { 'content-type': 'application/problem+json' })
  res.end(JSON.stringify({ type: 'about:blank', title: 'Error', status, code, detail, ...extra }))
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The body is exactly these string fields (the server's schemas allow no others). */
function fieldsOf<K extends string>(
  body: unknown,
  names: readonly K[],
  optional: readonly string[] = [],
): (Record<K, string> & { tokenDelivery?: string }) | { field: string; message: string }[] | undefined {
  if (!isRecord(body)) return undefined
  const errors: { field: string; message: string }[] = names
    .filter((name) => typeof body[name] !== 'string' || body[name] === '')
    .map((field) => ({ field, message: 'must be a non-empty string' }))
  for (const key of Object.keys(body)) {
    if (!(names as readonly string[]).includes(key) && !optional.includes(key))
      errors.push({ field: key, message: 'is not allowed' })
  }
  return errors.length === 0 ? (body as Record<K, string>) : errors
}

export async function startFakeAccountServer(): Promise<FakeAccountServer> {
  const requests: SeenRequest[] = []
  const canned = new Map<string, CannedAnswer>()
  let password: string = FAKE.password
  let serial = 0
  const liveAccess = new Set<string>()
  const expiredAccess = new Set<string>()
  const liveRefresh = new Set<string>()
  const usedOneTime = new Set<string>()

  function issueTokens(res: ServerResponse, status: number, delivery: string) {
    serial += 1
    const accessToken = `access-${serial}`
    const refreshToken = `refresh-${serial}`
    liveAccess.add(accessToken)
    liveRefresh.add(refreshToken)
    const user = {
      id: '0d5c1f6e-5b8a-4c8e-9a43-2f4a3f0e8b11',
      email: FAKE.email,
      name: null,
      roles: ['user'],
      emailVerified: true,
      createdAt: '2025-01-01T00:00:00.000Z',
    }
    const body = { user, accessToken, tokenType: 'Bearer', expiresIn: FAKE.ttl }
    if (delivery === 'body') return json(res, status, { ...body, refreshToken })
    return json(res, status, body, {
      'set-cookie': `tessera_refresh=${refreshToken}; Path=/auth; HttpOnly; SameSite=Strict`,
    })
  }

  /** The contract's answers, by path. */
  function route(path: string, headers: IncomingHttpHeaders, body: unknown, res: ServerResponse) {
    const validation = (errors: { field: string; message: string }[]) =>
      problem(res, 400, 'VALIDATION_FAILED', 'The request does not match the expected shape.', { errors })

    if (path === '/auth/register') {
      const input = fieldsOf(body, ['email', 'password'], ['name', 'tokenDelivery'])
      if (Array.isArray(input) || !input) return validation(input ?? [])
      // required verification: the same answer for a new and a taken email, and no tokens
      return json(res, 202, { status: 'verification_pending' })
    }
    if (path === '/auth/login') {
      const input = fieldsOf(body, ['email', 'password'], ['tokenDelivery'])
      if (Array.isArray(input) || !input) return validation(input ?? [])
      if (input.email === FAKE.unverifiedEmail) {
        return problem(res, 403, 'EMAIL_NOT_VERIFIED', 'Verify your email address before signing in.')
      }
      if (input.email !== FAKE.email || input.password !== password) {
        return problem(res, 401, 'INVALID_CREDENTIALS', 'Email or password is incorrect.')
      }
      return issueTokens(res, 200, input.tokenDelivery ?? 'cookie')
    }
    if (path === '/auth/refresh') {
      const cookie = /(?:^|;\s*)tessera_refresh=([^;]+)/.exec(headers.cookie ?? '')?.[1]
      const presented = isRecord(body) && typeof body.refreshToken === 'string' ? body.refreshToken : cookie
      if (presented === undefined || !liveRefresh.delete(presented)) {
        return problem(res, 401, 'REFRESH_TOKEN_INVALID', 'Sign in again.')
      }
      return issueTokens(res, 200, presented === cookie ? 'cookie' : 'body')
    }
    if (path === '/auth/logout') {
      res.writeHead(204).end()
      return
    }
    if (
      path === '/auth/forgot-password' ||
      path === '/auth/verify-email/resend' ||
      path === '/auth/magic-link'
    ) {
      const input = fieldsOf(body, ['email'])
      if (Array.isArray(input) || !input) return validation(input ?? [])
      // the same answer whether or not the account exists
      return json(res, 202, { status: 'accepted' })
    }
    if (path === '/auth/reset-password') {
      const input = fieldsOf(body, ['token', 'password'])
      if (Array.isArray(input) || !input) return validation(input ?? [])
      if (input.token !== FAKE.resetToken || usedOneTime.has(input.token)) {
        return problem(res, 400, 'ONE_TIME_TOKEN_INVALID', 'The link is invalid or has expired.')
      }
      if (input.password === FAKE.weakPassword) return problem(res, 400, 'WEAK_PASSWORD', FAKE.weakDetail)
      usedOneTime.add(input.token)
      password = input.password
      liveRefresh.clear()
      liveAccess.clear()
      res.writeHead(204).end()
      return
    }
    if (path === '/auth/verify-email') {
      const input = fieldsOf(body, ['token'])
      if (Array.isArray(input) || !input) return validation(input ?? [])
      if (input.token !== FAKE.verifyToken || usedOneTime.has(input.token)) {
        return problem(res, 400, 'ONE_TIME_TOKEN_INVALID', 'The link is invalid or has expired.')
      }
      usedOneTime.add(input.token)
      res.writeHead(204).end()
      return
    }
    if (path === '/auth/password') {
      const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1]
      if (bearer === undefined) return problem(res, 401, 'TOKEN_MISSING', 'Send an access token.')
      if (expiredAccess.has(bearer)) return problem(res, 401, 'TOKEN_EXPIRED', 'Refresh it.')
      if (!liveAccess.has(bearer)) return problem(res, 401, 'TOKEN_INVALID', 'Not valid.')
      const input = fieldsOf(body, ['currentPassword', 'newPassword'])
      if (Array.isArray(input) || !input) return validation(input ?? [])
      if (input.currentPassword !== password) {
        return problem(res, 401, 'INVALID_CREDENTIALS', 'Email or password is incorrect.')
      }
      if (input.newPassword === FAKE.weakPassword) return problem(res, 400, 'WEAK_PASSWORD', FAKE.weakDetail)
      password = input.newPassword
      res.writeHead(204).end()
      return
    }
    return problem(res, 404, 'NOT_FOUND', 'Not found.')
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // kept as text: the test sees what was sent
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/'
      requests.push({ method: req.method ?? '', path, headers: req.headers, body })

      const answer = canned.get(path)
      if (answer) {
        canned.delete(path)
        res.writeHead(answer.status, answer.headers ?? {})
        res.end(answer.body ?? '')
        return
      }
      if (req.method !== 'POST') return problem(res, 404, 'NOT_FOUND', 'Not found.')
      if (req.headers['content-type']?.split(';')[0]?.trim() !== 'application/json') {
        return problem(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.')
      }
      if (typeof body === 'string') return problem(res, 400, 'MALFORMED_REQUEST', 'Not JSON.')
      route(path, req.headers, body, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    to: (path) => requests.filter((request) => request.path === path),
    answerNext(path, answer) {
      canned.set(path, answer)
    },
    expireAccessTokens() {
      for (const token of liveAccess) expiredAccess.add(token)
    },
    get password() {
      return password
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}
