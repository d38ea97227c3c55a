import { hashRefreshToken, isWellFormedRefreshToken } from '../tokens/refresh-token.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'

/** Revokes the session a refresh token belongs to. Idempotent: an unknown token is no error. */
export async function logout(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  presented: string | undefined,
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  if (presented === undefined || !isWellFormedRefreshToken(presented)) return
  const found = await deps.stores.refreshTokens.findSession(hashRefreshToken(presented))
  if (!found) return
  // only the logout that ended the session is recorded, not its idempotent repeats
  if (await deps.stores.sessions.revoke(found.sessionId, undefined, deps.clock.now(), 'logout')) {
    deps.events.record({ type: 'logout', userId: found.userId, sessionId: found.sessionId, ...context })
  }
}

/** Revokes every session of the user: every refresh token dies, and access tokens fail their session check. */
export async function logoutAll(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  who: { userId: string; sessionId?: string | undefined },
  context: ClientContext = NO_CLIENT,
): Promise<number> {
  const now = deps.clock.now()
  const revoked = await deps.stores.transaction(async (tx) => {
    // "sign me out everywhere" also ends a sign-in waiting for its second step
    await tx.mfaTokens.voidForUser(who.userId, now)
    // and an email change asked for from one of those sessions
    await tx.oneTimeTokens.voidAll(who.userId, 'email_change', now)
    return tx.sessions.revokeAllForUser(who.userId, now, 'logout_all')
  })
  deps.events.record({
    type: 'logout_all',
    userId: who.userId,
    sessionId: who.sessionId ?? null,
    ...context,
    detail: { sessions: revoked },
  })
  return revoked
}
