import { createPrivateKey, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { Clock } from '../../clock.js'
import type { SignedClientSecret } from '../../config.js'

/** Apple's audience for client secrets. */
export const APPLE_AUDIENCE = 'https://appleid.apple.com'
/** Seconds a signed client secret lives; Apple accepts up to six months (15,777,000 s). */
export const SIGNED_SECRET_TTL = 24 * 3600
/** Seconds before its expiry that a secret is signed anew, so none is sent about to expire. */
const RESIGN_BEFORE = 3600

/**
 * Apple's client secret: an ES256 JWT (`iss` the team, `sub` the client id, `aud` Apple, `kid`
 * the key) signed here with the team's key, kept while it has more than an hour left and then
 * signed again. Parallel callers share one signature.
 */
export function signedClientSecret(
  settings: SignedClientSecret,
  clientId: string,
  clock: Clock,
): () => Promise<string> {
  const key: KeyObject = createPrivateKey({ key: settings.privateKey, format: 'pem' })
  let current: { jwt: Promise<string>; expiresAt: number } | undefined
  return () => {
    const now = Math.floor(clock.now().getTime() / 1000)
    if (current && current.expiresAt - now > RESIGN_BEFORE) return current.jwt
    const expiresAt = now + SIGNED_SECRET_TTL
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: settings.keyId })
      .setIssuer(settings.teamId)
      .setSubject(clientId)
      .setAudience(APPLE_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(key)
    const entry = { jwt, expiresAt }
    current = entry
    // a failed signature is not kept: the next sign-in tries again
    jwt.catch(() => {
      if (current === entry) current = undefined
    })
    return jwt
  }
}
