import { decodeJwt } from 'jose'
import { TesseraError } from '../errors.js'
import { verifyServiceToken } from '../tokens/service-token.js'
import { authenticate } from './authenticate.js'
import type { FlowDeps } from './deps.js'

/** An RFC 7662 answer: everything but an active access token of ours is `{ active: false }`. */
export type Introspection =
  | { active: false }
  | {
      active: true
      sub: string
      /** A user's token: its session. */
      sid?: string
      roles?: string[]
      /** A service's token: the client, as `sub`. */
      client_id?: string
      scope?: string
      exp: number
      iat: number
      iss: string
      aud: string
      jti: string
      token_type: 'Bearer'
    }

const INACTIVE = Object.freeze({ active: false as const })

/**
 * Introspection (RFC 7662): whether `token` is an access token this server issued that would be
 * honoured now. A user's token goes through `authenticate`, as at the Bearer routes (signature,
 * expiry, a live session of an enabled user, not stale); a service's through the same checks of
 * the token and a client that exists and is not revoked. Refusals of the token (a 401 code) are
 * `{ active: false }`, never a reason; the database failing is an error, not an inactive token.
 */
export async function introspect(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'clock' | 'config'>,
  token: string,
): Promise<Introspection> {
  let peeked: ReturnType<typeof decodeJwt>
  try {
    // only to pick the path: each path verifies the token in full
    peeked = decodeJwt(token)
  } catch {
    return INACTIVE
  }
  try {
    if (typeof peeked.sid === 'string') {
      const { claims } = await authenticate(deps, token)
      return {
        active: true,
        sub: claims.sub,
        sid: claims.sid,
        roles: claims.roles,
        exp: claims.exp,
        iat: claims.iat,
        iss: claims.iss,
        aud: claims.aud,
        jti: claims.jti,
        token_type: 'Bearer',
      }
    }
    if (typeof peeked.client_id === 'string') {
      const claims = await verifyServiceToken(deps, token)
      const client = await deps.stores.serviceClients.findById(claims.sub)
      if (!client || client.revokedAt !== null) return INACTIVE
      return {
        active: true,
        sub: claims.sub,
        client_id: claims.client_id,
        scope: claims.scope,
        exp: claims.exp,
        iat: claims.iat,
        iss: claims.iss,
        aud: claims.aud,
        jti: claims.jti,
        token_type: 'Bearer',
      }
    }
    return INACTIVE
  } catch (error) {
    if (error instanceof TesseraError && error.status === 401) return INACTIVE
    throw error
  }
}
