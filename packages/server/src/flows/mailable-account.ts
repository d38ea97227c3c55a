import { normalizeEmail } from '../email-address.js'
import type { AuthEventType } from '../events.js'
import type { UserRecord } from '../store/records.js'
import type { ClientContext, FlowDeps } from './deps.js'

/**
 * The account a request for a mailed link (forgot-password, a magic link) may mail: an enabled one
 * with that address, else undefined. The request is recorded as `type` either way, for an unknown
 * address without the address: a burst of them is someone probing. The caller answers 202 either
 * way and mails off the request path, so the answer tells nobody which addresses have accounts.
 */
export async function accountToMail(
  deps: Pick<FlowDeps, 'stores' | 'events'>,
  email: string,
  type: Extract<AuthEventType, 'password_reset_requested' | 'magic_link_requested'>,
  context: ClientContext,
): Promise<UserRecord | undefined> {
  const user = await deps.stores.users.findByEmail(normalizeEmail(email).normalized)
  const mailed = user !== undefined && user.disabledAt === null
  deps.events.record({ type, userId: user?.id ?? null, ...context, detail: { mailed } })
  return mailed ? user : undefined
}
