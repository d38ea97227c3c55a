import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { type CryptoKey, importJWK, type JWK } from 'jose'
import type { Clock } from '../clock.js'
import type { Config, SigningAlg } from '../config.js'
import { KeyRingError } from '../errors.js'
import type { SigningKeyStore } from '../store/signing-keys.js'
import { type AsymmetricAlg, generateSigningKey } from './generate.js'
import { hs256Key } from './hs256.js'
import {
  decideSigningKey,
  liveAt,
  mayReloadForUnknownKid,
  publishedSince,
  signerAt,
  signingRowAt,
} from './signing-policy.js'
import { keyWrappingKey, openPrivateKey, wrappingKeys } from './wrapping.js'

// the modules this ring was split into, still importable from here
export { hs256Kid } from './hs256.js'
export { signingRowAt } from './signing-policy.js'
export {
  keyWrappingKey,
  openPrivateKey,
  sealPrivateKey,
  type WrappingKeys,
  wrappingKeys,
} from './wrapping.js'

export interface SigningKey {
  kid: string
  alg: SigningAlg
  key: KeyObject | CryptoKey
}

interface SignerCandidate extends SigningKey {
  activatesAt: Date
  retiredAt: Date | null
}

export interface PublicKeyEntry {
  kid: string
  alg: SigningAlg
  key: KeyObject | CryptoKey
  jwk: JWK
}

export interface KeyRing {
  /** The key new tokens are signed with. */
  signingKey(): SigningKey
  /** Every public key that may still verify a live token. Never holds an HS256 secret. */
  jwks(): { keys: JWK[] }
  /** The key to verify a token whose header names `kid` and `alg`, or undefined when it is not ours. */
  verificationKey(kid: string, alg: string): Promise<KeyObject | CryptoKey | undefined>
  /** The algorithms this ring verifies: the allow-list for every verification. */
  algorithms(): SigningAlg[]
  reload(): Promise<void>
  close(): void
}

export type KeyRingConfig = Pick<
  Config,
  'signingAlg' | 'hs256Secret' | 'accessTokenTtl' | 'keyRefreshInterval' | 'keyRotation' | 'keyPublishLead'
>

export interface KeyRingDeps {
  store: SigningKeyStore
  /** TESSERA_SECRET: private keys are encrypted at rest under a key derived from it. */
  secret: string
  /** TESSERA_SECRET_PREVIOUS: still opens keys sealed before the secret was rotated. */
  previousSecret?: string | undefined
  clock: Clock
  config: KeyRingConfig
  onError?: (error: unknown) => void
  /** Told when this ring's reload rotated the key (scheduled rotation, or a new TESSERA_SIGNING_ALG). */
  onRotated?: (kid: string) => void
}

export interface EnsureSigningKeyOptions extends Pick<KeyRingDeps, 'store' | 'secret' | 'clock'> {
  alg: AsymmetricAlg
  /** Rotate now, whatever the age of the active key. */
  rotate?: boolean
  /** Seconds after activation at which a key is rotated automatically; null: never. */
  rotateAfter?: number | null
  /**
   * Seconds a new key is published before it signs, so verifiers that cached the JWKS (and wait
   * out a re-fetch cooldown) already know it. 0 switches at once. A first key always signs at once.
   */
  lead: number
}

/**
 * Makes sure a signing key of the configured algorithm signs now or is scheduled to, generating one
 * under the ring lock (two instances starting together create one key, not two). A new key is
 * published `lead` seconds before it takes over; the keys it replaces retire at that moment.
 */
export async function ensureSigningKey(
  options: EnsureSigningKeyOptions,
): Promise<{ kid: string; activatesAt: Date; created: boolean; replaced: boolean }> {
  return options.store.withRingLock(async (ring) => {
    const now = options.clock.now()
    const decision = decideSigningKey(await ring.live(now), now, options)
    if (decision.action === 'keep') {
      return {
        kid: decision.key.kid,
        activatesAt: decision.key.activatesAt,
        created: false,
        replaced: false,
      }
    }
    const { activatesAt } = decision
    const key = await generateSigningKey(options.alg, keyWrappingKey(options.secret), now, activatesAt)
    await ring.insert(key)
    await ring.retireAllExcept(key.kid, activatesAt)
    return { kid: key.kid, activatesAt, created: true, replaced: decision.replaces }
  })
}

/**
 * Loads the key ring from the database and re-reads it every `keyRefreshInterval`, so a rotation
 * by the CLI or another instance takes effect here without a restart.
 */
export async function createKeyRing(deps: KeyRingDeps): Promise<KeyRing> {
  const { store, clock, config } = deps
  const wrapKeys = wrappingKeys(deps.secret, deps.previousSecret)
  const hs256 =
    config.signingAlg === 'HS256' && config.hs256Secret !== undefined
      ? hs256Key(config.hs256Secret)
      : undefined

  let published: PublicKeyEntry[] = []
  let signers: SignerCandidate[] = []
  const privateKeys = new Map<string, KeyObject | CryptoKey>()
  let lastReload = 0

  async function reload(): Promise<void> {
    if (hs256) {
      // switched to HS256: asymmetric keys left from before stop signing and, once retired, leave
      // the JWKS when their last token has expired. Every instance must switch together.
      await store.withRingLock(async (ring) => {
        const now = clock.now()
        if ((await ring.live(now)).length > 0) await ring.retireAllExcept('', now)
      })
    } else if (config.signingAlg !== 'HS256') {
      const ensured = await ensureSigningKey({
        store,
        secret: deps.secret,
        clock,
        alg: config.signingAlg,
        rotateAfter: config.keyRotation,
        lead: config.keyPublishLead,
      })
      if (ensured.replaced) deps.onRotated?.(ensured.kid)
    }
    const now = clock.now()
    const rows = await store.listPublishable(publishedSince(now, config))
    const entries: PublicKeyEntry[] = []
    for (const row of rows) {
      const jwk = row.publicJwk as JWK
      entries.push({
        kid: row.kid,
        alg: row.alg as SigningAlg,
        jwk,
        key: (await importJWK(jwk, row.alg)) as KeyObject | CryptoKey,
      })
    }
    published = entries
    // every key that signs now or will: their private halves, decrypted once and kept by kid
    const candidates: SignerCandidate[] = []
    if (!hs256) {
      for (const row of liveAt(rows, now)) {
        let key = privateKeys.get(row.kid)
        if (!key) {
          const opened = await openPrivateKey(wrapKeys, row.privateJwe)
          if (!opened) {
            throw new KeyRingError(
              'KEY_UNREADABLE',
              `neither TESSERA_SECRET nor TESSERA_SECRET_PREVIOUS decrypts the signing key ${row.kid}`,
              row.kid,
            )
          }
          // a KeyObject, not jose's CryptoKey: the signer (fast-jwt, node:crypto) takes it as it is,
          // where KeyObject.from() of a non-extractable CryptoKey is deprecated from Node 24 (DEP0204)
          key = createPrivateKey({ key: JSON.parse(opened.jwk) as JsonWebKey, format: 'jwk' })
          if (!fitsAlg(key, row.alg as SigningAlg)) {
            throw new KeyRingError(
              'KEY_UNREADABLE',
              `the signing key ${row.kid} is not a ${row.alg} key`,
              row.kid,
            )
          }
          privateKeys.set(row.kid, key)
        }
        candidates.push({
          kid: row.kid,
          alg: row.alg as SigningAlg,
          key,
          activatesAt: row.activatesAt,
          retiredAt: row.retiredAt,
        })
      }
      if (!signingRowAt(candidates, now)) {
        throw new KeyRingError('NO_SIGNING_KEY', 'no active signing key after ensureSigningKey')
      }
    }
    signers = candidates
    lastReload = clock.now().getTime()
  }

  await reload()
  const timer = setInterval(() => {
    reload().catch((error: unknown) => deps.onError?.(error))
  }, config.keyRefreshInterval * 1000)
  timer.unref()

  return {
    signingKey() {
      if (hs256) return { kid: hs256.kid, alg: 'HS256', key: hs256.key }
      // chosen at each call, so a scheduled key takes over at its activation time on every instance
      const signer = signerAt(signers, clock.now())
      if (!signer) throw new KeyRingError('NO_SIGNING_KEY', 'no signing key is loaded')
      return { kid: signer.kid, alg: signer.alg, key: signer.key }
    },
    jwks: () => ({ keys: published.map((entry) => entry.jwk) }),
    async verificationKey(kid, alg) {
      if (hs256 && alg === 'HS256') return kid === hs256.kid ? hs256.key : undefined
      let entry = published.find((candidate) => candidate.kid === kid)
      // a key minted by another instance moments ago: re-read the ring, throttled
      if (!entry && mayReloadForUnknownKid(clock.now(), lastReload)) {
        await reload()
        entry = published.find((candidate) => candidate.kid === kid)
      }
      return entry && entry.alg === alg ? entry.key : undefined
    },
    algorithms() {
      const algs = new Set<SigningAlg>(published.map((entry) => entry.alg))
      if (hs256) algs.add('HS256')
      return [...algs]
    },
    reload,
    close: () => clearInterval(timer),
  }
}

/** What jose's importJWK checked: the key is of the kind its algorithm signs with. */
function fitsAlg(key: KeyObject, alg: SigningAlg): boolean {
  switch (alg) {
    case 'RS256':
      return key.asymmetricKeyType === 'rsa'
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519'
    default:
      return false
  }
}
