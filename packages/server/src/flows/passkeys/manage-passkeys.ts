import { TesseraError } from '../../errors.js'
import { passkeyRemovedMail } from '../../mail/templates.js'
import type { PasskeyRecord } from '../../store/records.js'
import { webhookUser } from '../../store/webhooks.js'
import type { Authenticated } from '../authenticate.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { requireRecentSignIn } from '../mfa/recent-sign-in.js'

/** The user's passkeys, oldest first. */
export const listPasskeys = (deps: Pick<FlowDeps, 'stores'>, userId: string): Promise<PasskeyRecord[]> =>
  deps.stores.passkeys.listForUser(userId)

/**
 * Removes one of the user's passkeys; needs a recent sign-in, and mails the user. Another user's
 * passkey id is NOT_FOUND, as an unknown one is.
 */
export async function removePasskey(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'mailer' | 'events'>,
  { user, session, claims }: Pick<Authenticated, 'user' | 'session' | 'claims'>,
  passkeyId: string,
  context: ClientContext,
): Promise<void> {
  requireRecentSignIn(claims, deps.clock.now())
  const passkeys = await deps.stores.passkeys.listForUser(user.id)
  const passkey = passkeys.find((candidate) => candidate.id === passkeyId)
  if (!passkey) throw new TesseraError('NOT_FOUND', { detail: 'No such passkey.' })
  await deps.stores.transaction(async (tx) => {
    if (!(await tx.passkeys.remove(user.id, passkeyId))) {
      throw new TesseraError('NOT_FOUND', { detail: 'No such passkey.' })
    }
    await tx.webhooks.enqueue({
      type: 'mfa.disabled',
      data: { user: webhookUser(user), method: 'passkey', passkeyId },
    })
  })
  deps.mailer.send(passkeyRemovedMail({ to: user.email, name: passkey.name }))
  deps.events.record({
    type: 'mfa_disabled',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { method: 'passkey', passkeyId },
  })
}
