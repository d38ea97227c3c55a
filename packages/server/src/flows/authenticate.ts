import { TesseraError } from '../errors.js'
import type { Session, User } from '../store/database.js'
import { type AccessTokenClaims, verifyAccessToken } from '../tokens/access-token.js'
import type { FlowDeps } from './deps.js'

export interface Authenticated {
  claims: AccessTokenClaims
  user: User
  session: Session
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
  const session = await deps.stores.sessions.findLive(claims.sid, claims.sub, now)
  if (!session) throw new TesseraError('TOKEN_INVALID')
  const user = await deps.stores.users.findById(claims.sub)
  if (!user || user.disabled_at !== null) throw new TesseraError('TOKEN_INVALID')
  return { claims, user, session }
}
