import { createHmac, createSecretKey, type KeyObject } from 'node:crypto'

/** The HS256 key of TESSERA_HS256_SECRET; it never leaves the server and never enters the JWKS. */
export interface Hs256Key {
  kid: string
  key: KeyObject
}

/** The kid under which HS256 tokens are signed: derived from the secret without revealing it. */
export const hs256Kid = (secret: string): string =>
  `hs256-${createHmac('sha256', secret).update('tessera kid').digest('base64url').slice(0, 16)}`

export const hs256Key = (secret: string): Hs256Key => ({
  kid: hs256Kid(secret),
  key: createSecretKey(Buffer.from(secret, 'utf8')),
})
