import type { AccessClaims } from '../claims.js'

// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3): no space, quote or backslash, so
// a scope goes into the quoted `scope` of a WWW-Authenticate challenge as it is
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** Checks the scopes given to `requireScope` once at setup. */
export function checkScopes(scopes: readonly unknown[]): readonly string[] {
  if (scopes.length === 0 || !scopes.every((scope) => typeof scope === 'string' && SCOPE_TOKEN.test(scope))) {
    throw new TypeError(
      '@tessera/middleware: requireScope needs at least one scope (printable ASCII, no space, quote or backslash), e.g. requireScope("orders:read")',
    )
  }
  return Object.freeze([...new Set(scopes as string[])])
}

/** Whether the token was issued to a service client (client credentials), not to a user. */
export const isServiceToken = (claims: AccessClaims): boolean => claims.client_id !== undefined

/** Whether the token's space-separated `scope` holds every one of `scopes`. */
export function hasScopes(claims: AccessClaims, scopes: readonly string[]): boolean {
  const granted = claims.scope?.split(' ') ?? []
  return scopes.every((scope) => granted.includes(scope))
}
