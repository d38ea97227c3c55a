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
  const opened = await openSealed(keys, jwe)
  return opened && { jwk: opened.plaintext, sealedUnder: opened.sealedUnder }
}

/**
 * TOTP secrets at rest: sealed the same way, under a key of their own derived from the same
 * secrets, so neither kind of ciphertext opens with the other's key.
 */
export const totpWrappingKeys = (secret: string, previousSecret?: string | undefined): WrappingKeys => ({
  current: deriveKey(secret, 'totp-secret-encryption v1'),
  previous: previousSecret === undefined ? undefined : deriveKey(previousSecret, 'totp-secret-encryption v1'),
})

/** Seals a secret under the current wrapping key. */
export const sealSecret = (keys: WrappingKeys, plaintext: string): Promise<string> =>
  seal(keys.current, plaintext)

/** Opens what was sealed under the current key, else the previous one; `undefined` when neither opens it. */
export async function openSealed(
  keys: WrappingKeys,
  jwe: string,
): Promise<{ plaintext: string; sealedUnder: 'current' | 'previous' } | undefined> {
  for (const sealedUnder of ['current', 'previous'] as const) {
    const key = keys[sealedUnder]
    if (!key) continue
    try {
      return { plaintext: await unseal(key, jwe), sealedUnder }
    } catch {
      // a wrong key fails authentication: try the next secret
    }
  }
  return undefined
}
