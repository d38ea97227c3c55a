import type { AsymmetricAlg } from '../keys/generate.js'
import { ensureSigningKey } from '../keys/key-ring.js'
import type { FlowDeps } from './deps.js'

export interface KeyInfo {
  kid: string
  alg: string
  /** `active` signs; `next` is published and signs later; `retired` only verifies. */
  state: 'active' | 'next' | 'retired'
  createdAt: Date
  retiredAt: Date | null
}

export async function listKeys(deps: Pick<FlowDeps, 'stores' | 'clock'>): Promise<KeyInfo[]> {
  const now = deps.clock.now()
  const rows = await deps.stores.signingKeys.listAll()
  const activeKid = rows.find((row) => row.retired_at === null && row.activates_at <= now)?.kid
  return rows.map((row) => ({
    kid: row.kid,
    alg: row.alg,
    state: row.kid === activeKid ? 'active' : row.retired_at === null ? 'next' : 'retired',
    createdAt: row.created_at,
    retiredAt: row.retired_at,
  }))
}

/** Makes a new key active at once and retires the others; running servers pick it up on their next reload. */
export async function rotateKey(
  deps: Pick<FlowDeps, 'stores' | 'clock'> & { secret: string; alg: AsymmetricAlg },
): Promise<string> {
  const { kid } = await ensureSigningKey({
    store: deps.stores.signingKeys,
    secret: deps.secret,
    clock: deps.clock,
    alg: deps.alg,
    rotateNow: true,
  })
  return kid
}
