import type { AccessClaims } from '../claims.js'

/** Checks the roles given to `authorize` once at setup. */
export function checkRoles(roles: readonly unknown[]): readonly string[] {
  if (roles.length === 0 || !roles.every((role) => typeof role === 'string' && role !== '')) {
    throw new TypeError(
      '@tessera/middleware: authorize needs at least one role name, e.g. authorize("admin")',
    )
  }
  return Object.freeze([...(roles as string[])])
}

/** Whether the claims hold at least one of `roles`. */
export const hasAnyRole = (claims: AccessClaims, roles: readonly string[]): boolean =>
  claims.roles.some((role) => roles.includes(role))
