import { createHmac, createSecretKey, type KeyObject } from 'node:crypto'
import { type CryptoKey, importJWK, type JWK } from 'jose'
import type { Clock } from '../clock.js'
import type { Config, SigningAlg } from '../config.js'
import type { SigningKeyRow } from '../store/database.js'
import type { SigningKeyStore } from '../store/signing-keys.js'
import { type AsymmetricAlg, generateSigningKey } from './generate.js'
import { deriveKey, unseal } from './secret.js'

export interface SigningKey {
  kid: string
  alg: SigningAlg
  key: KeyObject | CryptoKey
}

interface SignerCandidate extends SigningKey {
  activates_at: Date
  retired_at: Date | null
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

/** The key that signs at `now`: the newest one activated and not yet retired. Rows come newest first. */
export const signingRowAt = <R extends Pick<SigningKeyRow, 'activates_at' | 'retired_at'>>(
  rows: R[],
  now: Date,
): R | undefined =>
  rows.find((row) => row.activates_at <= now && (row.retired_at === null || row.retired_at > now))

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
    const live = await ring.live(now)
    const signing = signingRowAt(live, now)
    const pending = live.find((row) => row.activates_at > now)
    const rotationDue =
      signing !== undefined &&
      options.rotateAfter != null &&
      now.getTime() + options.lead * 1000 - signing.activates_at.getTime() >= options.rotateAfter * 1000
    const upToDate =
      signing !== undefined &&
      !options.rotate &&
      (pending ? pending.alg === options.alg : signing.alg === options.alg && !rotationDue)
    if (upToDate) {
      const current = pending ?? signing
      return { kid: current.kid, activatesAt: current.activates_at, created: false, replaced: false }
    }
    const activatesAt = signing ? new Date(now.getTime() + options.lead * 1000) : now
    const key = await generateSigningKey(options.alg, keyWrappingKey(options.secret), now, activatesAt)
    await ring.insert(key)
    await ring.retireAllExcept(key.kid, activatesAt)
    // replaced: a rotation; otherwise the first key of the ring
    return { kid: key.kid, activatesAt, created: true, replaced: signing !== undefined }
  })
}

/** The kid under which HS256 tokens are signed: derived from the secret without revealing it. */
const hs256Kid = (secret: string): string =>
  `hs256-${createHmac('sha256', secret).update('tessera kid').digest('base64url').slice(0, 16)}`

/**
 * Loads the key ring from the database and re-reads it every `keyRefreshInterval`, so a rotation
 * by the CLI or another instance takes effect here without a restart.
 */
export async function createKeyRing(deps: KeyRingDeps): Promise<KeyRing> {
  const { store, clock, config } = deps
  const wrapKeys = wrappingKeys(deps.secret, deps.previousSecret)
  const hs256 =
    config.signingAlg === 'HS256' && config.hs256Secret !== undefined
      ? { kid: hs256Kid(config.hs256Secret), key: createSecretKey(Buffer.from(config.hs256Secret, 'utf8')) }
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
    // a retired key stays while a token it signed may live: its lifetime, plus the time other
    // instances may go on signing with it before they reload, plus a minute of margin
    const keepMs = (config.accessTokenTtl + config.keyRefreshInterval + 60) * 1000
    const rows = await store.listPublishable(new Date(now.getTime() - keepMs))
    const entries: PublicKeyEntry[] = []
    for (const row of rows) {
      const jwk = row.public_jwk as JWK
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
      for (const row of rows.filter(
        (candidate) => candidate.retired_at === null || candidate.retired_at > now,
      )) {
        let key = privateKeys.get(row.kid)
        if (!key) {
          const opened = await openPrivateKey(wrapKeys, row.private_jwe)
          if (!opened) {
            throw new Error(
              `neither TESSERA_SECRET nor TESSERA_SECRET_PREVIOUS decrypts the signing key ${row.kid}`,
            )
          }
          key = (await importJWK(JSON.parse(opened.jwk), row.alg)) as KeyObject | CryptoKey
          privateKeys.set(row.kid, key)
        }
        candidates.push({
          kid: row.kid,
          alg: row.alg as SigningAlg,
          key,
          activates_at: row.activates_at,
          retired_at: row.retired_at,
        })
      }
      if (!signingRowAt(candidates, now)) throw new Error('no active signing key after ensureSigningKey')
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
      // a clock stepped back before every activation still signs, with the oldest live key
      const signer = signingRowAt(signers, clock.now()) ?? signers.at(-1)
      if (!signer) throw new Error('no signing key is loaded')
      return { kid: signer.kid, alg: signer.alg, key: signer.key }
    },
    jwks: () => ({ keys: published.map((entry) => entry.jwk) }),
    async verificationKey(kid, alg) {
      if (hs256 && alg === 'HS256') return kid === hs256.kid ? hs256.key : undefined
      let entry = published.find((candidate) => candidate.kid === kid)
      // a key minted by another instance moments ago: re-read the ring, at most every 5 s so
      // forged kids cannot turn verification into database load
      if (!entry && clock.now().getTime() - lastReload > 5000) {
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
