import { ConfigError } from '../config.js'
import type { AsymmetricAlg } from '../keys/generate.js'
import { ensureSigningKey, openPrivateKey, wrappingKeys } from '../keys/key-ring.js'
import { seal } from '../keys/secret.js'
import { signingRowAt } from '../keys/signing-policy.js'
import type { FlowDeps } from './deps.js'

export interface KeyInfo {
  kid: string
  alg: string
  /** `active` signs; `next` is published and signs later; `retired` only verifies. */
  state: 'active' | 'next' | 'retired'
  createdAt: Date
  activatesAt: Date
  /** Set, possibly in the future, once a newer key is scheduled to take over. */
  retiredAt: Date | null
}

export async function listKeys(deps: Pick<FlowDeps, 'stores' | 'clock'>): Promise<KeyInfo[]> {
  const now = deps.clock.now()
  const keys = await deps.stores.signingKeys.listAll()
  const activeKid = signingRowAt(keys, now)?.kid
  return keys.map((key) => ({
    kid: key.kid,
    alg: key.alg,
    state: key.kid === activeKid ? 'active' : key.activatesAt > now ? 'next' : 'retired',
    createdAt: key.createdAt,
    activatesAt: key.activatesAt,
    retiredAt: key.retiredAt,
  }))
}

/**
 * Publishes a new key at once and makes it sign `lead` seconds later, when the keys it replaces
 * retire (they stay in the JWKS until their last token has expired). Running servers read the
 * ring every `keyRefreshInterval` and switch at the activation time; `lead: 0` switches at once.
 */
export async function rotateKey(
  deps: Pick<FlowDeps, 'stores' | 'clock'> &
    Partial<Pick<FlowDeps, 'events'>> & { secret: string; alg: AsymmetricAlg; lead: number },
): Promise<{ kid: string; activatesAt: Date }> {
  const { kid, activatesAt } = await ensureSigningKey({
    store: deps.stores.signingKeys,
    secret: deps.secret,
    clock: deps.clock,
    alg: deps.alg,
    rotate: true,
    lead: deps.lead,
  })
  deps.events?.record({ type: 'key_rotated', detail: { kid, by: 'operator' } })
  return { kid, activatesAt }
}

/**
 * Re-encrypts every private key of the ring, retired ones too, under `secret` (TESSERA_SECRET):
 * the last step of a secret rotation, after which TESSERA_SECRET_PREVIOUS can go. One transaction
 * under the ring lock, so a rotation elsewhere waits, and a key neither secret opens changes nothing.
 */
export async function reencryptKeys(deps: {
  stores: Pick<FlowDeps['stores'], 'signingKeys'>
  secret: string
  previousSecret: string | undefined
}): Promise<{ reencrypted: string[]; unchanged: string[] }> {
  const keys = wrappingKeys(deps.secret, deps.previousSecret)
  return deps.stores.signingKeys.withRingLock(async (ring) => {
    const reencrypted: string[] = []
    const unchanged: string[] = []
    for (const row of await ring.all()) {
      const opened = await openPrivateKey(keys, row.privateJwe)
      if (!opened) {
        const which =
          deps.previousSecret === undefined
            ? 'is not set, and TESSERA_SECRET does not decrypt'
            : 'neither it nor TESSERA_SECRET decrypts'
        throw new ConfigError(
          'TESSERA_SECRET_PREVIOUS',
          `${which} the signing key ${row.kid}; no key was changed. ` +
            'Set TESSERA_SECRET_PREVIOUS to the secret the keys were sealed with.',
        )
      }
      if (opened.sealedUnder === 'current') {
        unchanged.push(row.kid)
        continue
      }
      await ring.setPrivateJwe(row.kid, await seal(keys.current, opened.jwk))
      reencrypted.push(row.kid)
    }
    return { reencrypted, unchanged }
  })
}
