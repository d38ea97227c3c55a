/**
 * The claims of a verified Tessera access token, as `req.auth` / `request.auth` carries them.
 * Times are seconds since the epoch.
 */
export interface AccessClaims {
  /** The user id (a UUID); for a service token, the client id (`svc_…`, equal to `client_id`). */
  sub: string
  /** The session id; revoking the session on the server ends refreshes, not this token. */
  sid?: string
  /** The user's roles; `[]` when the token has none (a service token has none). */
  roles: string[]
  email?: string
  email_verified?: boolean
  /** The issuer: the server's public URL. */
  iss: string
  aud: string | string[]
  /** Expiry, seconds since the epoch. */
  exp: number
  /** Issued at, seconds since the epoch. */
  iat: number
  /** The token's unique id, for deny-lists. */
  jti?: string
  nbf?: number
  /**
   * Only in a service token (client credentials): the service client's id. `authenticate` refuses
   * such a token unless the route accepts services (`services: true`).
   */
  client_id?: string
  /** Only in a service token: its scopes, space-separated (`requireScope` checks them). */
  scope?: string
  /**
   * How the user signed in (RFC 8176): `pwd` (password), `otp` (TOTP or recovery code), `hwk` /
   * `swk` and `user` (passkey), `mfa` when two factors were used. Kept across refreshes.
   */
  amr?: string[]
  /** The authentication context class: `urn:tessera:mfa` after a second factor, else `urn:tessera:pwd`. */
  acr?: string
  /** When the user signed in or last stepped up, seconds since the epoch. Kept across refreshes. */
  auth_time?: number
  /**
   * The app metadata an administrator set for the user (a JSON object of at most 2 KiB), when it
   * is not empty; never in a service token.
   */
  app?: Record<string, unknown>
  /** Any other claim, unchecked. */
  [claim: string]: unknown
}

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string')

const optional = (value: unknown, type: 'string' | 'boolean'): boolean =>
  value === undefined || typeof value === type

/**
 * Narrows a verified payload (signature, iss, aud, exp, iat, required claims) to
 * {@link AccessClaims}, or `undefined` when a claim has the wrong type.
 */
export function toAccessClaims(payload: Readonly<Record<string, unknown>>): AccessClaims | undefined {
  const { sub, iss, aud, exp, iat, roles } = payload
  if (
    typeof sub !== 'string' ||
    sub === '' ||
    typeof iss !== 'string' ||
    !(typeof aud === 'string' || isStringArray(aud)) ||
    typeof exp !== 'number' ||
    typeof iat !== 'number' ||
    !(roles === undefined || isStringArray(roles)) ||
    !optional(payload.sid, 'string') ||
    !optional(payload.jti, 'string') ||
    !optional(payload.email, 'string') ||
    !optional(payload.email_verified, 'boolean') ||
    !optional(payload.client_id, 'string') ||
    !optional(payload.scope, 'string') ||
    !(payload.amr === undefined || isStringArray(payload.amr)) ||
    !optional(payload.acr, 'string') ||
    !(
      payload.app === undefined ||
      (typeof payload.app === 'object' && payload.app !== null && !Array.isArray(payload.app))
    ) ||
    !(
      payload.auth_time === undefined ||
      (typeof payload.auth_time === 'number' && Number.isFinite(payload.auth_time))
    )
  ) {
    return undefined
  }
  return { ...payload, sub, iss, aud, exp, iat, roles: roles === undefined ? [] : [...roles] }
}
