import type { KeyObject } from 'node:crypto'
import { createHmac, randomUUID } from 'node:crypto'
import { type CryptoKey, type JWTHeaderParameters, type JWTPayload, SignJWT } from 'jose'

export const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
export const epoch = (date = new Date()): number => Math.floor(date.getTime() / 1000)

/** The claims Tessera puts in an access token, valid for 15 minutes from now. */
export function accessClaims(issuer: string, overrides: JWTPayload = {}): JWTPayload {
  const iat = epoch()
  return {
    iss: issuer,
    aud: 'tessera',
    sub: randomUUID(),
    sid: randomUUID(),
    jti: randomUUID(),
    iat,
    exp: iat + 900,
    roles: ['user'],
    email: 'ada@example.com',
    email_verified: false,
    ...overrides,
  }
}

/** Signs `claims` under exactly `header`, as an attacker (or a test) chooses. */
export const sign = (
  claims: JWTPayload,
  header: JWTHeaderParameters,
  key: KeyObject | CryptoKey | Uint8Array,
): Promise<string> => new SignJWT(claims).setProtectedHeader(header).sign(key)

/** An `alg: none` token: header and claims, empty signature. */
export const unsecuredToken = (header: Record<string, unknown>, claims: JWTPayload): string =>
  `${b64url(header)}.${b64url(claims)}.`

/** An HS256 JWS with `secret` as the HMAC key, built by hand so no library refuses the key. */
export function hmacToken(
  header: Record<string, unknown>,
  claims: JWTPayload,
  secret: string | Uint8Array,
): string {
  const input = `${b64url(header)}.${b64url(claims)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** The token with its payload swapped for `claims`, signature kept. */
export function withPayload(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split('.')
  return `${header}.${b64url(claims)}.${signature}`
}

/** The token with one signature character changed. */
export function withBrokenSignature(token: string): string {
  const last = token.at(-2) === 'A' ? 'B' : 'A'
  return `${token.slice(0, -2)}${last}${token.at(-1)}`
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
