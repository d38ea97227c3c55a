import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import type { SigningAlg } from '../config.js'
import type { NewSigningKey } from '../store/signing-keys.js'
import { seal } from './secret.js'

export type AsymmetricAlg = Exclude<SigningAlg, 'HS256'>

/** A fresh key pair for `alg`; the private half leaves this function only encrypted under `wrapKey`. */
export async function generateSigningKey(
  alg: AsymmetricAlg,
  wrapKey: Uint8Array,
  now: Date,
  activatesAt: Date = now,
): Promise<NewSigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  })
  const publicJwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256')
  const privateJwk = await exportJWK(privateKey)
  return {
    kid,
    alg,
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    privateJwe: await seal(wrapKey, JSON.stringify({ ...privateJwk, kid, alg })),
    createdAt: now,
    activatesAt,
  }
}
