import { epochSeconds } from '../clock.js'
import { TesseraError } from '../errors.js'
import type { SessionRecord, UserRecord } from '../store/records.js'
import { type VerifiedAccessTokenClaims, verifyAccessToken } from '../tokens/access-token.js'
import type { FlowDeps } from './deps.js'

export interface Authenticated {
  claims: VerifiedAccessTokenClaims
  user: UserRecord
  session: SessionRecord
}

/**
 * Verifies an access token and checks that its session is still live, its user still exists and
 * is enabled, and no change made it stale, so logout and revocation take effect on this server at
 * once. TOKEN_REVOKED when the token is genuine but no longer honoured.
 */
export async function authenticate(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'clock' | 'config'>,
  token: string,
): Promise<Authenticated> {
  const claims = await verifyAccessToken(deps, token)
  const now = deps.clock.now()
  const found = await deps.stores.sessions.findWithUser(claims.sid, claims.sub, now)
  // a session we never had for this user (or one housekeeping removed long after it ended)
  if (!found) throw new TesseraError('TOKEN_INVALID')
  // a token whose session ended (logout, reuse, reset, disable, idle or absolute expiry) or that a
  // change made stale (roles): the client refreshes once, and the refresh tells whether the session lives
  if (!found.live || isStale(claims, found.user)) throw new TesseraError('TOKEN_REVOKED')
  return { claims, user: found.user, session: found.session }
}

/** Issued before the user's tokens went stale (a `user` revocation event: roles changed, disabled). */
export const isStale = (
  claims: Pick<VerifiedAccessTokenClaims, 'iat'>,
  user: Pick<UserRecord, 'tokensNotBefore'>,
): boolean => user.tokensNotBefore !== null && claims.iat < epochSeconds(user.tokensNotBefore)
