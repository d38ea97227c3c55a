import { openSealed, sealSecret, totpWrappingKeys } from '../../keys/wrapping.js'
import type { Stores } from '../../store/stores.js'

/**
 * Re-seals every TOTP secret still sealed under TESSERA_SECRET_PREVIOUS under TESSERA_SECRET, with
 * `tessera keys reencrypt`: the last step of a secret rotation. A secret neither opens is left as
 * it is and counted (its user re-enrols, or an operator resets it).
 */
export async function reencryptTotpSecrets(deps: {
  stores: Pick<Stores, 'secondFactors'>
  secret: string
  previousSecret: string | undefined
}): Promise<{ reencrypted: number; unreadable: number }> {
  const keys = totpWrappingKeys(deps.secret, deps.previousSecret)
  let reencrypted = 0
  let unreadable = 0
  for (const { userId, secretSealed } of await deps.stores.secondFactors.listTotpSecrets()) {
    const opened = await openSealed(keys, secretSealed)
    if (!opened) unreadable++
    if (opened?.sealedUnder !== 'previous') continue
    const resealed = await sealSecret(keys, opened.plaintext)
    // a user who re-enrolled meanwhile has a new secret, sealed under the current key already
    if (await deps.stores.secondFactors.resealTotpSecret(userId, secretSealed, resealed)) reencrypted++
  }
  return { reencrypted, unreadable }
}
