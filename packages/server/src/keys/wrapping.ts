import { deriveKey, seal, unseal } from './secret.js'

/**
 * Private signing keys at rest: sealed under a key derived from TESSERA_SECRET, and opened with it
 * or, while the secret is being rotated, with TESSERA_SECRET_PREVIOUS.
 */

/** The wrapping key for private keys at rest. */
export const keyWrappingKey = (secret: string): Uint8Array => deriveKey(secret, 'signing-key-encryption v1')

/** The wrapping keys of TESSERA_SECRET and, during a secret rotation, of TESSERA_SECRET_PREVIOUS. */
export interface WrappingKeys {
  current: Uint8Array
  previous: Uint8Array | undefined
}

export const wrappingKeys = (secret: string, previousSecret?: string | undefined): WrappingKeys => ({
  current: keyWrappingKey(secret),
  previous: previousSecret === undefined ? undefined : keyWrappingKey(previousSecret),
})

/** Seals a private JWK (as JSON) under the current secret. */
export const sealPrivateKey = (keys: WrappingKeys, jwk: string): Promise<string> => seal(keys.current, jwk)

/**
 * Decrypts a sealed private key with the current secret, else the previous one; `undefined` when
 * neither opens it. `sealedUnder: 'previous'` means `tessera keys reencrypt` has yet to run.
 */
export async function openPrivateKey(
  keys: WrappingKeys,
  jwe: string,
): Promise<{ jwk: string; sealedUnder: 'current' | 'previous' } | undefined> {
  for (const sealedUnder of ['current', 'previous'] as const) {
    const key = keys[sealedUnder]
    if (!key) continue
    try {
      return { jwk: await unseal(key, jwe), sealedUnder }
    } catch {
      // a wrong key fails authentication: try the next secret
    }
  }
  return undefined
}
