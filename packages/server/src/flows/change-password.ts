import { TesseraError } from '../errors.js'
import { passwordChangedMail } from '../mail/templates.js'
import { webhookUser } from '../store/webhooks.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'

/**
 * Changes the password of a signed-in user who knows the current one. Every other session is
 * revoked (the current one stays), reset links die, and the user gets a notice.
 */
export async function changePassword(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'policy' | 'mailer' | 'events' | 'clock'>,
  who: { userId: string; sessionId: string },
  input: { currentPassword: string; newPassword: string },
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  const user = await deps.stores.users.findById(who.userId)
  if (!user) throw new TesseraError('TOKEN_INVALID')
  if (user.passwordHash === null) {
    // a magic link removed the password of an account first verified that way: the way to set one
    // is a reset link, which proves the mailbox again
    throw new TesseraError('INVALID_CREDENTIALS', {
      detail: 'This account has no password yet; set one with "Forgot password".',
    })
  }
  const check = await deps.hasher.verify(user.passwordHash, input.currentPassword)
  if (!check.ok) {
    throw new TesseraError('INVALID_CREDENTIALS', { detail: 'The current password is incorrect.' })
  }
  await deps.policy.check(input.newPassword, { email: user.email, name: user.name })
  const passwordHash = await deps.hasher.hash(input.newPassword)
  const revoked = await deps.stores.transaction(async (tx) => {
    const now = deps.clock.now()
    await tx.users.setPasswordHash(user.id, passwordHash, now)
    await tx.webhooks.enqueue({ type: 'password.changed', data: { user: webhookUser(user), via: 'change' } })
    await tx.oneTimeTokens.voidAll(user.id, 'password_reset', now)
    // an email change asked for by whoever knew the old password dies with it
    await tx.oneTimeTokens.voidAll(user.id, 'email_change', now)
    // a sign-in or enrolment begun with the old password cannot be finished with its second step
    await tx.mfaTokens.voidForUser(user.id, now)
    return tx.sessions.revokeAllForUserExcept(user.id, who.sessionId, now, 'password_changed')
  })
  deps.events.record({
    type: 'password_changed',
    userId: user.id,
    sessionId: who.sessionId,
    ...context,
    detail: { otherSessionsRevoked: revoked },
  })
  deps.mailer.send(passwordChangedMail({ to: user.email }))
}
