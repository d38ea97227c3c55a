import { randomUUID } from 'node:crypto'
import type { AuthEvent } from '../events.js'
import type { SessionAuth, UserRecord } from '../store/records.js'
import type { SessionOpening } from '../store/session-opening.js'
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

/** A session just opened: its id and first refresh token. */
export interface OpenedSession {
  sessionId: string
  refreshToken: string
  refreshExpiresAt: Date
}

/** The rows of a new session and its first refresh token, and what the caller hands back. */
function newSession(
  deps: Pick<FlowDeps, 'clock' | 'config'>,
  user: UserRecord,
  context: ClientContext,
  auth: SessionAuth,
): { opening: SessionOpening; opened: OpenedSession } {
  const now = deps.clock.now()
  const sessionId = randomUUID()
  const absoluteExpiresAt = new Date(now.getTime() + deps.config.sessionMaxAge * 1000)
  const idleExpiresAt = new Date(now.getTime() + deps.config.refreshIdleTtl * 1000)
  const refreshToken = newRefreshToken()
  return {
    opening: {
      id: sessionId,
      userId: user.id,
      createdAt: now,
      idleExpiresAt,
      absoluteExpiresAt,
      userAgent: context.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
      ip: context.ip,
      auth,
      refreshToken: { id: randomUUID(), hash: hashRefreshToken(refreshToken) },
    },
    opened: { sessionId, refreshToken, refreshExpiresAt: idleExpiresAt },
  }
}

/**
 * Opens a session with its first refresh token, inside the caller's transaction; `auth` says how
 * the user signed in (its access tokens' `amr`, `acr`, `auth_time`). One statement: the session,
 * its token, the user's lastLoginAt and the `session.created` webhook.
 */
export async function openSession(
  tx: Stores,
  deps: Pick<FlowDeps, 'clock' | 'config'>,
  user: UserRecord,
  context: ClientContext,
  auth: SessionAuth,
): Promise<OpenedSession> {
  const { opening, opened } = newSession(deps, user, context, auth)
  await tx.sessions.open(opening)
  return opened
}

/**
 * A password sign-in's common case in one statement and no transaction around it: opens the
 * session unless the user has a confirmed second factor, in which case it opens nothing and
 * answers undefined (the caller asks for the second step).
 */
export async function openSessionUnlessSecondFactor(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  user: UserRecord,
  context: ClientContext,
  auth: SessionAuth,
): Promise<OpenedSession | undefined> {
  const { opening, opened } = newSession(deps, user, context, auth)
  return (await deps.stores.sessions.open({ ...opening, unlessSecondFactor: true })) ? opened : undefined
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
