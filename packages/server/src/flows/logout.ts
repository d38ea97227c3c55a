import { hashRefreshToken, isWellFormedRefreshToken } from '../tokens/refresh-token.js'
import type { FlowDeps } from './deps.js'

/** Revokes the session a refresh token belongs to. Idempotent: an unknown token is no error. */
export async function logout(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  presented: string | undefined,
): Promise<void> {
  if (presented === undefined || !isWellFormedRefreshToken(presented)) return
  const sessionId = await deps.stores.refreshTokens.findSessionId(hashRefreshToken(presented))
  if (sessionId) await deps.stores.sessions.revoke(sessionId, undefined, deps.clock.now(), 'logout')
}

/** Revokes every session of the user: every refresh token dies, and access tokens fail their session check. */
export async function logoutAll(deps: Pick<FlowDeps, 'stores' | 'clock'>, userId: string): Promise<number> {
  return deps.stores.sessions.revokeAllForUser(userId, deps.clock.now(), 'logout_all')
}
