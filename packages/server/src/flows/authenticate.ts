import { TesseraError } from '../errors.js'
import type { SessionRecord, UserRecord } from '../store/records.js'
import { type AccessTokenClaims, verifyAccessToken } from '../tokens/access-token.js'
import type { FlowDeps } from './deps.js'

export interface Authenticated {
  claims: AccessTokenClaims
  user: UserRecord
  session: SessionRecord
}

/**
 * Verifies an access token and checks that its session is still live and its user still exists
 * and is enabled, so logout and revocation take effect on this server at once.
 */
export async function authenticate(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'clock' | 'config'>,
  token: string,
): Promise<Authenticated> {
  const claims = await verifyAccessToken(deps, token)
  const now = deps.clock.now()
  const live = await deps.stores.sessions.findLiveWithUser(claims.sid, claims.sub, now)
  if (!live) throw new TesseraError('TOKEN_INVALID')
  return { claims, user: live.user, session: live.session }
}
