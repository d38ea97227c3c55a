import { decodeJwt } from 'jose'
import { TesseraError } from '../../errors.js'
import { verifyServiceToken } from '../../tokens/service-token.js'
import { authenticate } from '../authenticate.js'
import type { FlowDeps } from '../deps.js'
import type { Actor } from '../manage-users.js'

/** The scope a service client needs for the admin API. */
export const ADMIN_SCOPE = 'admin'

/** Who is calling the admin API: a user with the admin role, or a service client with the scope. */
export interface AdminCaller {
  kind: 'user' | 'client'
  /** The user's id or the client's id: the audit log's `detail.actor`. */
  actor: Actor
}

/**
 * Authenticates a caller of `/admin/*`: a user's access token that passes every check of the
 * Bearer routes (live session, enabled user, not stale) and whose user holds TESSERA_ADMIN_ROLE
 * now (not merely when the token was issued), or a client-credentials token of a client that is
 * not revoked and was granted the `admin` scope. Anyone else authenticated is FORBIDDEN.
 */
export async function authenticateAdmin(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'clock' | 'config'>,
  token: string,
): Promise<AdminCaller> {
  let peeked: ReturnType<typeof decodeJwt>
  try {
    // only to pick the path: each path verifies the token in full
    peeked = decodeJwt(token)
  } catch (cause) {
    throw new TesseraError('TOKEN_INVALID', { cause })
  }
  if (typeof peeked.client_id === 'string') {
    const claims = await verifyServiceToken(deps, token)
    const client = await deps.stores.serviceClients.findById(claims.sub)
    // a revoked client's tokens stop working at once, as at introspection
    if (!client || client.revokedAt !== null) throw new TesseraError('TOKEN_REVOKED')
    if (!claims.scope.split(' ').includes(ADMIN_SCOPE)) {
      throw new TesseraError('FORBIDDEN', { detail: `The client lacks the ${ADMIN_SCOPE} scope.` })
    }
    return { kind: 'client', actor: client.id }
  }
  const { user } = await authenticate(deps, token)
  if (!user.roles.includes(deps.config.adminRole)) {
    throw new TesseraError('FORBIDDEN', { detail: 'This needs the administrator role.' })
  }
  return { kind: 'user', actor: user.id }
}
