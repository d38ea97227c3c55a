import type { AsymmetricAlg } from '../keys/generate.js'
import { ensureSigningKey, signingRowAt } from '../keys/key-ring.js'
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
  const rows = await deps.stores.signingKeys.listAll()
  const activeKid = signingRowAt(rows, now)?.kid
  return rows.map((row) => ({
    kid: row.kid,
    alg: row.alg,
    state: row.kid === activeKid ? 'active' : row.activates_at > now ? 'next' : 'retired',
    createdAt: row.created_at,
    activatesAt: row.activates_at,
    retiredAt: row.retired_at,
  }))
}

/**
 * Publishes a new key at once and makes it sign `lead` seconds later, when the keys it replaces
 * retire (they stay in the JWKS until their last token has expired). Running servers read the
 * ring every `keyRefreshInterval` and switch at the activation time; `lead: 0` switches at once.
 */
export async function rotateKey(
  deps: Pick<FlowDeps, 'stores' | 'clock'> & { secret: string; alg: AsymmetricAlg; lead: number },
): Promise<{ kid: string; activatesAt: Date }> {
  const { kid, activatesAt } = await ensureSigningKey({
    store: deps.stores.signingKeys,
    secret: deps.secret,
    clock: deps.clock,
    alg: deps.alg,
    rotate: true,
    lead: deps.lead,
  })
  return { kid, activatesAt }
}
