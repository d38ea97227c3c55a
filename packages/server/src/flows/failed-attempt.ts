import type { LoginAttempt } from '../limits/lockout.js'
import type { ClientContext, FlowDeps } from './deps.js'

/**
 * Counts a wrong password or code toward the account lockout, and records `account_locked` when
 * this failure started a lock. Every route that checks a secret of the account uses it, so a
 * second factor or a step-up is no way around the lockout.
 */
export async function countFailedAttempt(
  deps: Pick<FlowDeps, 'events'>,
  attempt: LoginAttempt,
  userId: string | null,
  context: ClientContext,
): Promise<void> {
  const lockedFor = await attempt.failed()
  if (lockedFor !== undefined) {
    deps.events.record({ type: 'account_locked', userId, ...context, detail: { seconds: lockedFor } })
  }
}
