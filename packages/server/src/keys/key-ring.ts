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
  'signingAlg' | 'hs256Secret' | 'accessTokenTtl' | 'keyRefreshInterval' | 'keyRotation'
>

export interface KeyRingDeps {
  store: SigningKeyStore
  /** TESSERA_SECRET: private keys are encrypted at rest under a key derived from it. */
  secret: string
  clock: Clock
  config: KeyRingConfig
  onError?: (error: unknown) => void
}

/** The wrapping key for private keys at rest. */
export const keyWrappingKey = (secret: string): Uint8Array => deriveKey(secret, 'signing-key-encryption v1')

/** The newest unretired key that has started signing, if any. */
const activeRow = (rows: SigningKeyRow[], now: Date): SigningKeyRow | undefined =>
  rows.find((row) => row.retired_at === null && row.activates_at <= now)

/**
 * Makes sure a signing key of the configured algorithm exists, generating one under the ring lock
 * (so two instances starting together create one key, not two), and rotates when `rotateNow`.
 * Returns the kid that signs from now on.
 */
export async function ensureSigningKey(
  deps: Pick<KeyRingDeps, 'store' | 'secret' | 'clock'> & {
    alg: AsymmetricAlg
    rotateNow?: boolean
    rotateAfter?: number | null
  },
): Promise<{ kid: string; created: boolean }> {
  return deps.store.withRingLock(async (ring) => {
    const now = deps.clock.now()
    const active = activeRow(await ring.unretired(), now)
    const expired =
      active !== undefined &&
      deps.rotateAfter != null &&
      now.getTime() - active.activates_at.getTime() >= deps.rotateAfter * 1000
    if (active && active.alg === deps.alg && !deps.rotateNow && !expired)
      return { kid: active.kid, created: false }
    const key = await generateSigningKey(deps.alg, keyWrappingKey(deps.secret), now)
    await ring.insert(key)
    await ring.retireAllExcept(key.kid, now)
    return { kid: key.kid, created: true }
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
  const wrapKey = keyWrappingKey(deps.secret)
  const hs256 =
    config.signingAlg === 'HS256' && config.hs256Secret !== undefined
      ? { kid: hs256Kid(config.hs256Secret), key: createSecretKey(Buffer.from(config.hs256Secret, 'utf8')) }
      : undefined

  let published: PublicKeyEntry[] = []
  let signer: SigningKey | undefined
  const privateKeys = new Map<string, KeyObject | CryptoKey>()
  let lastReload = 0

  async function reload(): Promise<void> {
    if (hs256) {
      // switched to HS256: asymmetric keys left from before stop signing and, once retired, leave
      // the JWKS when their last token has expired. Every instance must switch together.
      await store.withRingLock(async (ring) => {
        if ((await ring.unretired()).length > 0) await ring.retireAllExcept('', clock.now())
      })
    } else if (config.signingAlg !== 'HS256') {
      await ensureSigningKey({
        store,
        secret: deps.secret,
        clock,
        alg: config.signingAlg,
        rotateAfter: config.keyRotation,
      })
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
    if (hs256) {
      signer = { kid: hs256.kid, alg: 'HS256', key: hs256.key }
    } else {
      const active = activeRow(rows, now)
      if (!active) throw new Error('no active signing key after ensureSigningKey')
      let key = privateKeys.get(active.kid)
      if (!key) {
        key = (await importJWK(JSON.parse(await unseal(wrapKey, active.private_jwe)), active.alg)) as
          | KeyObject
          | CryptoKey
        privateKeys.set(active.kid, key)
      }
      signer = { kid: active.kid, alg: active.alg as SigningAlg, key }
    }
    lastReload = Date.now()
  }

  await reload()
  const timer = setInterval(() => {
    reload().catch((error: unknown) => deps.onError?.(error))
  }, config.keyRefreshInterval * 1000)
  timer.unref()

  return {
    signingKey() {
      if (!signer) throw new Error('key ring not loaded')
      return signer
    },
    jwks: () => ({ keys: published.map((entry) => entry.jwk) }),
    async verificationKey(kid, alg) {
      if (hs256 && alg === 'HS256') return kid === hs256.kid ? hs256.key : undefined
      let entry = published.find((candidate) => candidate.kid === kid)
      // a key minted by another instance moments ago: re-read the ring, at most every 5 s so
      // forged kids cannot turn verification into database load
      if (!entry && Date.now() - lastReload > 5000) {
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
