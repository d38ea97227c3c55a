import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { isJsonObject, type JsonObject } from './openapi-document.js'

/** An access token the server issued, with the claims that name its user and session. */
export interface PoolAccess {
  token: string
  claims: JsonObject
}

/** A user whose password is known, so logins and password changes can succeed. */
export interface PoolUser {
  userId: string
  email: string
  password: string
}

/** What a request carried from the pool, so its answer can tell which credentials died. */
export interface SentCredentials {
  method: string
  path: string
  body: unknown
  access: PoolAccess | undefined
  refresh: string[]
}

/** The mail the server sent, where reset and verification links carry one-time tokens. */
export interface Mailbox {
  readonly sent: readonly { readonly to: string; readonly text: string }[]
}

export interface CredentialPool {
  access(pick: number): PoolAccess | undefined
  refresh(pick: number): string | undefined
  user(pick: number): PoolUser | undefined
  session(pick: number): string | undefined
  /** A one-time token (password reset, email verification) from a mail the server sent. */
  oneTimeToken(pick: number): string | undefined
  /** Learns from an answer: new tokens and sessions, a changed password, tokens refused. */
  observe(sent: SentCredentials, response: LightMyRequestResponse): void
  /** Registers users until there are live access tokens to draw from again. */
  refill(): Promise<void>
  /** Users registered to keep the pool alive. */
  registered(): number
}

export const REFRESH_COOKIE = 'tessera_refresh'

// a short memory: old tokens are the ones most likely revoked by now
const KEEP = 8
const MIN_LIVE_ACCESS = 2
const PASSWORD = 'correct horse battery staple'

const pickFrom = <T>(list: readonly T[], pick: number): T | undefined =>
  list.length === 0 ? undefined : list[pick % list.length]

function remember<T>(list: T[], value: T): void {
  list.push(value)
  if (list.length > KEEP) list.shift()
}

function forget<T>(list: T[], matches: (value: T) => boolean): void {
  const index = list.findIndex(matches)
  if (index !== -1) list.splice(index, 1)
}

/** The payload of a JWT, unverified: only to learn `sub` and `sid` of a token the server just issued. */
export function jwtClaims(token: string): JsonObject {
  const payload = token.split('.')[1]
  if (payload === undefined) return {}
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    return isJsonObject(parsed) ? parsed : {}
  } catch {
    return {}
  }
}

const LINK_TOKEN = /[?&]token=([^\s&#"<]+)/

/** The one-time tokens of the latest mails, with the address each was sent to. */
function mailedTokens(mailbox: Mailbox): { token: string; to: string }[] {
  return mailbox.sent.slice(-KEEP).flatMap((mail) => {
    const token = LINK_TOKEN.exec(mail.text)?.[1]
    return token ? [{ token: decodeURIComponent(token), to: mail.to }] : []
  })
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const stringAt = (value: unknown, key: string): string | undefined =>
  isJsonObject(value) && typeof value[key] === 'string' ? value[key] : undefined

/**
 * Real tokens, sessions and passwords of users the fuzzer registered, topped up from every
 * successful answer and pruned of whatever the server refuses.
 */
export function createCredentialPool(app: FastifyInstance, mailbox: Mailbox): CredentialPool {
  const accessTokens: PoolAccess[] = []
  const refreshTokens: string[] = []
  const sessions: string[] = []
  const users: PoolUser[] = []
  let counter = 0

  const addAccess = (token: string): void => {
    const claims = jwtClaims(token)
    remember(accessTokens, { token, claims })
    if (typeof claims.sid === 'string' && !sessions.includes(claims.sid)) remember(sessions, claims.sid)
  }

  function learnTokens(sent: SentCredentials, response: LightMyRequestResponse, body: unknown): void {
    const accessToken = stringAt(body, 'accessToken')
    if (accessToken) addAccess(accessToken)
    const refreshToken = stringAt(body, 'refreshToken')
    if (refreshToken) remember(refreshTokens, refreshToken)
    const cookie = response.cookies.find((candidate) => candidate.name === REFRESH_COOKIE)
    if (cookie?.value) remember(refreshTokens, cookie.value)
    const user = isJsonObject(body) ? body.user : undefined
    const userId = stringAt(user, 'id')
    const email = stringAt(sent.body, 'email')
    const password = stringAt(sent.body, 'password')
    if (userId && email && password && !users.some((known) => known.userId === userId)) {
      remember(users, { userId, email, password })
    }
  }

  function learnSessions(body: unknown): void {
    const listed = isJsonObject(body) && Array.isArray(body.sessions) ? body.sessions : []
    for (const session of listed) {
      const id = stringAt(session, 'id')
      if (id && !sessions.includes(id)) remember(sessions, id)
    }
  }

  function learnPasswordChange(sent: SentCredentials): void {
    const newPassword = stringAt(sent.body, 'newPassword')
    const user = users.find((known) => known.userId === sent.access?.claims.sub)
    if (user && newPassword) user.password = newPassword
  }

  // a reset sets the password of the address the link was mailed to
  function learnReset(sent: SentCredentials): void {
    const token = stringAt(sent.body, 'token')
    const password = stringAt(sent.body, 'password')
    const to = mailedTokens(mailbox).find((mailed) => mailed.token === token)?.to
    const user = users.find((known) => known.email.toLowerCase() === to?.toLowerCase())
    if (user && password) user.password = password
  }

  function forgetRefused(sent: SentCredentials, code: string | undefined): void {
    const { access } = sent
    if (access && code?.startsWith('TOKEN_')) forget(accessTokens, (known) => known.token === access.token)
    if (code?.startsWith('REFRESH_TOKEN_')) {
      for (const token of sent.refresh) forget(refreshTokens, (known) => known === token)
    }
  }

  async function register(): Promise<void> {
    counter += 1
    const email = `fuzz-pool-${process.pid}-${Date.now()}-${counter}@example.com`
    const response = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, tokenDelivery: 'body' },
    })
    if (response.statusCode !== 201) {
      throw new Error(`registering a pool user failed: ${response.statusCode} ${response.body}`)
    }
    const body: unknown = response.json()
    learnTokens(
      {
        method: 'POST',
        path: '/auth/register',
        body: { email, password: PASSWORD },
        access: undefined,
        refresh: [],
      },
      response,
      body,
    )
  }

  return {
    access: (pick) => pickFrom(accessTokens, pick),
    refresh: (pick) => pickFrom(refreshTokens, pick),
    user: (pick) => pickFrom(users, pick),
    session: (pick) => pickFrom(sessions, pick),
    oneTimeToken: (pick) => pickFrom(mailedTokens(mailbox), pick)?.token,
    observe(sent, response) {
      const body = parseJson(response.body)
      const status = response.statusCode
      if (status >= 200 && status < 300) {
        learnTokens(sent, response, body)
        if (sent.method === 'GET' && sent.path === '/auth/sessions') learnSessions(body)
        if (sent.method === 'POST' && sent.path === '/auth/password') learnPasswordChange(sent)
        if (sent.method === 'POST' && sent.path === '/auth/reset-password') learnReset(sent)
      } else if (status === 401) {
        forgetRefused(sent, stringAt(body, 'code'))
      }
    },
    async refill() {
      while (accessTokens.length < MIN_LIVE_ACCESS) await register()
    },
    registered: () => counter,
  }
}
