import { TesseraError } from '../errors.js'
import type { SessionRecord } from '../store/records.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'

/** The user's live sessions, most recently used first. */
export function listSessions(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  userId: string,
): Promise<SessionRecord[]> {
  return deps.stores.sessions.listLive(userId, deps.clock.now())
}

/** Revokes one of the user's own sessions; another user's, or one already gone, is NOT_FOUND. */
export async function revokeSession(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  userId: string,
  sessionId: string,
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  const revoked = await deps.stores.sessions.revoke(sessionId, userId, deps.clock.now(), 'revoked_by_user')
  if (!revoked) throw new TesseraError('NOT_FOUND', { detail: 'No such session.' })
  deps.events.record({ type: 'session_revoked', userId, sessionId, ...context })
}
