import { randomUUID } from 'node:crypto'
import type { AuthEvent } from '../events.js'
import type { SessionAuth, UserRecord } from '../store/records.js'
import type { Stores } from '../store/stores.js'
import { issueAccessToken } from '../tokens/access-token.js'
import { hashRefreshToken, newRefreshToken } from '../tokens/refresh-token.js'
import type { ClientContext, FlowDeps } from './deps.js'

/** What register, login and refresh hand back to the HTTP layer. */
export interface IssuedTokens {
  user: UserRecord
  sessionId: string
  accessToken: string
  /** Seconds. */
  expiresIn: number
  refreshToken: string
  /** When the refresh token dies unless used (idle timeout, capped by the absolute lifetime). */
  refreshExpiresAt: Date
}

const USER_AGENT_MAX = 512

/**
 * Opens a session with its first refresh token, inside the caller's transaction; `auth` says how
 * the user signed in (its access tokens' `amr`, `acr`, `auth_time`).
 */
export async function openSession(
  tx: Stores,
  deps: Pick<FlowDeps, 'clock' | 'config'>,
  user: UserRecord,
  context: ClientContext,
  auth: SessionAuth,
): Promise<{ sessionId: string; refreshToken: string; refreshExpiresAt: Date }> {
  const now = deps.clock.now()
  const sessionId = randomUUID()
  const absoluteExpiresAt = new Date(now.getTime() + deps.config.sessionMaxAge * 1000)
  const idleExpiresAt = new Date(now.getTime() + deps.config.refreshIdleTtl * 1000)
  await tx.sessions.create({
    id: sessionId,
    userId: user.id,
    createdAt: now,
    idleExpiresAt,
    absoluteExpiresAt,
    userAgent: context.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
    ip: context.ip,
    auth,
  })
  // in the same transaction, one indexed UPDATE: what the admin API shows as lastLoginAt
  await tx.users.touchLastLogin(user.id, now)
  const refreshToken = newRefreshToken()
  await tx.refreshTokens.insert({
    id: randomUUID(),
    sessionId,
    hash: hashRefreshToken(refreshToken),
    createdAt: now,
  })
  return { sessionId, refreshToken, refreshExpiresAt: idleExpiresAt }
}

export async function accessTokenFor(
  deps: Pick<FlowDeps, 'keyRing' | 'clock' | 'config'>,
  user: UserRecord,
  sessionId: string,
  auth: SessionAuth,
): Promise<{ accessToken: string; expiresIn: number }> {
  const accessToken = await issueAccessToken(deps, {
    userId: user.id,
    sessionId,
    roles: user.roles,
    email: user.email,
    emailVerified: user.emailVerified,
    notBefore: user.tokensNotBefore,
    auth,
    app: user.appMetadata,
  })
  return { accessToken, expiresIn: deps.config.accessTokenTtl }
}

/**
 * A sign-in with nothing more to ask (no second step): opens the session in a transaction of its
 * own, records `login_succeeded` with `detail`, and answers its tokens.
 */
export async function openSignedInSession(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'events' | 'clock' | 'config'>,
  user: UserRecord,
  auth: SessionAuth,
  context: ClientContext,
  detail: AuthEvent['detail'],
): Promise<IssuedTokens> {
  const opened = await deps.stores.transaction((tx) => openSession(tx, deps, user, context, auth))
  deps.events.record({
    type: 'login_succeeded',
    userId: user.id,
    sessionId: opened.sessionId,
    ...context,
    detail,
  })
  return { user, ...opened, ...(await accessTokenFor(deps, user, opened.sessionId, auth)) }
}
