import { OAuthError } from '../errors.js'
import { parseScope } from '../scope.js'
import type { ServiceClientRecord } from '../store/records.js'
import { issueServiceToken } from '../tokens/service-token.js'
import type { FlowDeps } from './deps.js'

export interface ClientCredentialsToken {
  accessToken: string
  /** Seconds until it expires (TESSERA_SERVICE_TOKEN_TTL). */
  expiresIn: number
  /** The scopes granted, space-separated. */
  scope: string
}

/**
 * The client-credentials grant (RFC 6749 §4.4) for an authenticated client: a token with the
 * scopes asked for, or all of the client's when `requested` is absent. Asking for a scope the
 * client does not hold is `invalid_scope`, never a token with less than was asked.
 */
export async function grantClientCredentials(
  deps: Pick<FlowDeps, 'keyRing' | 'clock' | 'config'>,
  client: ServiceClientRecord,
  requested: string | undefined,
): Promise<ClientCredentialsToken> {
  let scopes = client.scopes
  if (requested !== undefined) {
    const asked = parseScope(requested)
    if (!Array.isArray(asked))
      throw new OAuthError('invalid_scope', `The scope is malformed: ${asked.invalid}.`)
    const missing = asked.filter((scope) => !client.scopes.includes(scope))
    if (missing.length > 0) {
      throw new OAuthError('invalid_scope', 'The client is not allowed a requested scope.')
    }
    // an empty `scope` is an omitted one (RFC 6749 §3.2), which the route already dropped
    scopes = asked
  }
  const { token } = await issueServiceToken(deps, client.id, scopes)
  return { accessToken: token, expiresIn: deps.config.serviceTokenTtl, scope: scopes.join(' ') }
}
