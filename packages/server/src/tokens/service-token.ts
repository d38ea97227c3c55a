import { randomUUID } from 'node:crypto'
import { type Clock, epochSeconds } from '../clock.js'
import type { Config } from '../config.js'
import type { KeyRing } from '../keys/key-ring.js'
import { signerFor, verifyOurToken } from './access-token.js'

/**
 * A client-credentials access token (POST /oauth/token): the header of a user's access token
 * (`typ: at+jwt`, the ring's key and algorithm) with `sub` = `client_id` = the client id and
 * `scope`; no `sid`, `email` or `roles`, so every user Bearer route refuses it (verifyAccessToken
 * requires a UUID `sub` and `sid`).
 */
export interface ServiceTokenClaims {
  iss: string
  aud: string
  /** The client id, `svc_…`. */
  sub: string
  client_id: string
  /** Space-separated scopes granted, possibly empty. */
  scope: string
  jti: string
  iat: number
  exp: number
}

export interface ServiceTokenDeps {
  keyRing: KeyRing
  clock: Clock
  config: Pick<Config, 'publicUrl' | 'audience' | 'serviceTokenTtl'>
}

/** What a client id looks like (flows/service-clients.ts makes them): no other `sub` is a service. */
export const SERVICE_CLIENT_ID = /^svc_[A-Za-z0-9_-]{22}$/

/** Signs a client-credentials token for `clientId` with `scopes`, living `serviceTokenTtl`. */
export async function issueServiceToken(
  deps: ServiceTokenDeps,
  clientId: string,
  scopes: readonly string[],
): Promise<{ token: string; claims: ServiceTokenClaims }> {
  const sign = signerFor(deps.keyRing.signingKey())
  const iat = epochSeconds(deps.clock.now())
  const claims: ServiceTokenClaims = {
    iss: deps.config.publicUrl,
    aud: deps.config.audience,
    sub: clientId,
    client_id: clientId,
    scope: scopes.join(' '),
    jti: randomUUID(),
    iat,
    exp: iat + deps.config.serviceTokenTtl,
  }
  return { token: sign({ ...claims }), claims }
}

/**
 * Verifies a client-credentials token by the rules of verifyAccessToken (one of our keys, the
 * allow-listed algorithms, iss, aud, `typ: at+jwt`, no leeway, no `iat` from the future), plus
 * its own shape: a client id as `sub` and `client_id`, a string `scope`, and no `sid`. Throws
 * TOKEN_EXPIRED for a genuine token past `exp` and TOKEN_INVALID for anything else. Whether the
 * client is still live is the caller's question (flows/introspect.ts).
 */
export async function verifyServiceToken(deps: ServiceTokenDeps, token: string): Promise<ServiceTokenClaims> {
  const payload = await verifyOurToken(
    deps,
    token,
    ['iss', 'aud', 'sub', 'jti', 'iat', 'exp'],
    (claims) =>
      typeof claims.sub === 'string' &&
      SERVICE_CLIENT_ID.test(claims.sub) &&
      claims.client_id === claims.sub &&
      typeof claims.scope === 'string' &&
      !('sid' in claims),
  )
  return payload as unknown as ServiceTokenClaims
}
