import { TesseraError } from '../../errors.js'
import type { IdentityRecord } from '../../store/identities.js'
import type { Authenticated } from '../authenticate.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { requireRecentSignIn } from '../mfa/recent-sign-in.js'

/** The user's provider identities, oldest first. */
export const listIdentities = (deps: Pick<FlowDeps, 'stores'>, userId: string): Promise<IdentityRecord[]> =>
  deps.stores.identities.listForUser(userId)

/**
 * Unlinks one of the user's provider identities; needs a recent sign-in. Refused with
 * LAST_SIGN_IN_METHOD when nothing else would sign in to the account: no password, no passkey
 * (which signs in alone), no other identity, and no magic links. Another user's id is NOT_FOUND.
 */
export async function unlinkIdentity(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'events' | 'config'>,
  { user, session, claims }: Pick<Authenticated, 'user' | 'session' | 'claims'>,
  identityId: string,
  context: ClientContext,
): Promise<void> {
  requireRecentSignIn(claims, deps.clock.now())
  const removed = await deps.stores.transaction(async (tx) => {
    await tx.identities.lockOwner(user.id)
    const identities = await tx.identities.listForUser(user.id)
    const identity = identities.find((candidate) => candidate.id === identityId)
    if (!identity) throw new TesseraError('NOT_FOUND', { detail: 'No such identity.' })
    const current = await tx.users.findById(user.id)
    const otherWays =
      identities.length > 1 ||
      (current?.passwordHash ?? null) !== null ||
      deps.config.magicLink ||
      (await tx.passkeys.listForUser(user.id)).length > 0
    if (!otherWays) throw new TesseraError('LAST_SIGN_IN_METHOD')
    await tx.identities.remove(user.id, identityId)
    return identity
  })
  deps.events.record({
    type: 'identity_unlinked',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { provider: removed.provider, identityId },
  })
}
