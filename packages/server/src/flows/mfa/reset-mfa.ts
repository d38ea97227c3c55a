import type { UserRecord } from '../../store/records.js'
import { webhookUser } from '../../store/webhooks.js'
import type { FlowDeps } from '../deps.js'
import { type Actor, findUser } from '../manage-users.js'

/**
 * An operator's reset for a user who lost their device: every second factor (TOTP, passkeys) and
 * recovery code of the account goes, and pending second-factor sign-ins die. The password signs in
 * alone again.
 */
export async function resetMfa(
  deps: Pick<FlowDeps, 'stores' | 'events'>,
  emailOrId: string,
  actor?: Actor,
): Promise<{ user: UserRecord; totp: boolean; recoveryCodes: number; passkeys: number }> {
  const user = await findUser(deps.stores, emailOrId)
  const removed = await deps.stores.transaction(async (tx) => {
    const gone = await tx.secondFactors.removeAll(user.id)
    if (gone.totp || gone.passkeys > 0) {
      await tx.webhooks.enqueue({
        type: 'mfa.disabled',
        data: { user: webhookUser(user), method: 'reset', totp: gone.totp, passkeys: gone.passkeys },
      })
    }
    return gone
  })
  const detail = { totp: removed.totp, recoveryCodes: removed.recoveryCodes, passkeys: removed.passkeys }
  deps.events.record(
    actor === undefined
      ? { type: 'mfa_reset', userId: user.id, detail }
      : { type: 'mfa.disabled', userId: user.id, detail: { ...detail, actor, reset: true } },
  )
  return { user, ...removed }
}
