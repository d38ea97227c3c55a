/** How the server hands over the refresh token: an httpOnly cookie (browsers) or the JSON body. */
export const TOKEN_DELIVERIES = ['cookie', 'body'] as const
export type TokenDelivery = (typeof TOKEN_DELIVERIES)[number]

/** A user as Tessera shows it (never a password hash). */
export interface User {
  id: string
  email: string
  name: string | null
  roles: string[]
  emailVerified: boolean
  /** ISO 8601. */
  createdAt: string
  /** What an administrator keeps about the user (the access tokens' `app` claim); older servers leave it out. */
  appMetadata?: Record<string, unknown>
}

/** One live session of the signed-in user (`GET /auth/sessions`). */
export interface SessionInfo {
  id: string
  /** ISO 8601. */
  createdAt: string
  /** ISO 8601. */
  lastUsedAt: string
  userAgent: string | null
  ip: string | null
  /** Whether this is the session of the client that asked. */
  current: boolean
}

/**
 * - `unknown`: just created; call `restore()` to find out whether a session survives (cookie mode
 *   after a page load, or a stored refresh token).
 * - `signed-in`: the client holds an access token, or a refresh brought one.
 * - `signed-out`: no session, or it ended.
 */
export type ClientState = 'unknown' | 'signed-in' | 'signed-out'

/**
 * Why the client signed out:
 * - `logout`: `logout()` or `logoutAll()` on this client.
 * - `session-expired`: the server refused the refresh token while signed in (expired, revoked
 *   elsewhere, or replayed).
 * - `no-session`: `restore()` (or a first call) found no session to bring back.
 * - `other-tab`: another tab of this origin signed out of the shared session.
 */
export type SignOutReason = 'logout' | 'session-expired' | 'no-session' | 'other-tab'

export type ClientEvent =
  | { type: 'signed-in'; user: User | null }
  | { type: 'signed-out'; reason: SignOutReason }

/** The token response of register, login and refresh. */
export interface TokenResponse {
  user?: User
  accessToken: string
  tokenType: 'Bearer'
  /** Seconds until the access token expires. */
  expiresIn: number
  /** Only with `tokenDelivery: 'body'`. */
  refreshToken?: string
}

/** A JSON object (not an array, not null). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const isStringOrNull = (value: unknown): value is string | null => value === null || typeof value === 'string'

export const isUser = (value: unknown): value is User =>
  isRecord(value) &&
  typeof value.id === 'string' &&
  typeof value.email === 'string' &&
  isStringOrNull(value.name ?? null) &&
  Array.isArray(value.roles) &&
  value.roles.every((role) => typeof role === 'string') &&
  typeof value.emailVerified === 'boolean' &&
  typeof value.createdAt === 'string' &&
  (value.appMetadata === undefined || isRecord(value.appMetadata))

export const isSessionInfo = (value: unknown): value is SessionInfo =>
  isRecord(value) &&
  typeof value.id === 'string' &&
  typeof value.createdAt === 'string' &&
  typeof value.lastUsedAt === 'string' &&
  isStringOrNull(value.userAgent) &&
  isStringOrNull(value.ip) &&
  typeof value.current === 'boolean'

/** Narrows a token response body, or `undefined` when it is not one. */
export function asTokenResponse(value: unknown): TokenResponse | undefined {
  if (
    !isRecord(value) ||
    typeof value.accessToken !== 'string' ||
    value.accessToken === '' ||
    typeof value.tokenType !== 'string' ||
    value.tokenType.toLowerCase() !== 'bearer' ||
    typeof value.expiresIn !== 'number' ||
    !(value.expiresIn > 0)
  ) {
    return undefined
  }
  if (value.user !== undefined && !isUser(value.user)) return undefined
  if (value.refreshToken !== undefined && typeof value.refreshToken !== 'string') return undefined
  const response: TokenResponse = {
    accessToken: value.accessToken,
    tokenType: 'Bearer',
    expiresIn: value.expiresIn,
  }
  if (value.user !== undefined) response.user = value.user
  if (value.refreshToken !== undefined) response.refreshToken = value.refreshToken
  return response
}
