import { normalizeEmail } from '../email-address.js'
import { TesseraError } from '../errors.js'
import { passwordResetDoneMail } from '../mail/templates.js'
import { webhookUser } from '../store/webhooks.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'
import { hashOneTimeToken, isWellFormedOneTimeToken } from './one-time-token.js'

/**
 * Sets a new password with a reset token: the token is used up, every session and refresh token of
 * the user is revoked, other reset links die, and the user gets a notice. It does not sign anyone in.
 */
export async function resetPassword(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'policy' | 'mailer' | 'events' | 'limits' | 'clock'>,
  input: { token: string; password: string },
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  if (!isWellFormedOneTimeToken(input.token)) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  const hash = hashOneTimeToken(input.token)
  // check the new password before using the token up, so a weak one can be corrected with the same link
  const pending = await deps.stores.oneTimeTokens.peek(hash, 'password_reset', deps.clock.now())
  if (!pending) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  const user = await deps.stores.users.findById(pending.userId)
  if (!user || user.disabledAt !== null) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  // a link mailed to an address the account no longer has sets nothing (as verification and magic links)
  if (normalizeEmail(pending.email).normalized !== user.emailNormalized)
    throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  await deps.policy.check(input.password, { email: user.email, name: user.name })
  const passwordHash = await deps.hasher.hash(input.password)

  const revoked = await deps.stores.transaction(async (tx) => {
    const now = deps.clock.now()
    // the atomic step: of two parallel resets with one token, one gets the row, the other nothing
    const used = await tx.oneTimeTokens.consume(hash, 'password_reset', now)
    if (!used || used.userId !== user.id) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    await tx.users.setPasswordHash(user.id, passwordHash, now)
    await tx.webhooks.enqueue({ type: 'password.changed', data: { user: webhookUser(user), via: 'reset' } })
    await tx.oneTimeTokens.voidAll(user.id, 'password_reset', now)
    // an email change asked for by whoever knew the old password dies with it
    await tx.oneTimeTokens.voidAll(user.id, 'email_change', now)
    // a sign-in or enrolment begun with the old password cannot be finished with its second step
    await tx.mfaTokens.voidForUser(user.id, now)
    return tx.sessions.revokeAllForUser(user.id, now, 'password_reset')
  })
  // whoever holds the mailbox may sign in again at once
  await deps.limits.lockout.clear(user.emailNormalized)
  deps.events.record({
    type: 'password_reset',
    userId: user.id,
    ...context,
    detail: { sessionsRevoked: revoked },
  })
  deps.mailer.send(passwordResetDoneMail({ to: user.email }))
}
