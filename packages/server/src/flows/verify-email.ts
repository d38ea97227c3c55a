import { randomUUID } from 'node:crypto'
import { normalizeEmail } from '../email-address.js'
import { TesseraError } from '../errors.js'
import { linkWithToken, verifyEmailMail } from '../mail/templates.js'
import type { UserRecord } from '../store/records.js'
import type { Stores } from '../store/stores.js'
import { webhookUser } from '../store/webhooks.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'
import { hashOneTimeToken, isWellFormedOneTimeToken, newOneTimeToken } from './one-time-token.js'

type VerificationDeps = Pick<FlowDeps, 'stores' | 'mailer' | 'clock' | 'config'>

/** Issues a verification token (voiding older ones) inside `tx`; returns the mail to send after commit. */
export async function issueVerification(
  tx: Stores,
  deps: Omit<VerificationDeps, 'stores' | 'mailer'>,
  user: UserRecord,
) {
  const now = deps.clock.now()
  const { token, hash } = newOneTimeToken()
  await tx.oneTimeTokens.issue({
    id: randomUUID(),
    userId: user.id,
    purpose: 'email_verification',
    hash,
    email: user.email,
    createdAt: now,
    expiresAt: new Date(now.getTime() + deps.config.verifyTokenTtl * 1000),
  })
  return verifyEmailMail({
    to: user.email,
    link: linkWithToken(deps.config.verifyUrl, token),
    expiresInMinutes: Math.round(deps.config.verifyTokenTtl / 60),
  })
}

/** Confirms the address the token was issued for. Single use; a reset token is refused here. */
export async function verifyEmail(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  token: string,
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  if (!isWellFormedOneTimeToken(token)) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  const userId = await deps.stores.transaction(async (tx) => {
    const now = deps.clock.now()
    const used = await tx.oneTimeTokens.consume(hashOneTimeToken(token), 'email_verification', now)
    if (!used) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    const before = await tx.users.findById(used.userId)
    // the address changed since the mail went out: the token confirms nothing
    if (!(await tx.users.markEmailVerified(used.userId, used.email, now))) {
      throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    }
    // told once: a second link to an address already verified changes nothing
    if (before && !before.emailVerified) {
      await tx.webhooks.enqueue({
        type: 'email.verified',
        data: { user: webhookUser({ ...before, emailVerified: true }), via: 'link' },
      })
    }
    return used.userId
  })
  deps.events.record({ type: 'email_verified', userId, ...context })
}

/**
 * Sends a new verification mail to an unverified account. Answers the same whether the address is
 * unknown, verified or not, so it tells nobody which addresses have accounts.
 */
export async function resendVerification(deps: VerificationDeps, email: string): Promise<void> {
  const user = await deps.stores.users.findByEmail(normalizeEmail(email).normalized)
  if (!user || user.emailVerified || user.disabledAt !== null) return
  const mail = await deps.stores.transaction((tx) => issueVerification(tx, deps, user))
  deps.mailer.send(mail)
}
