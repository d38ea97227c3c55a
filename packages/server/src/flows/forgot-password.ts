import { randomUUID } from 'node:crypto'
import type { Mail } from '../mail/mail.js'
import { accountExistsMail, linkWithToken, resetPasswordMail } from '../mail/templates.js'
import type { UserRecord } from '../store/records.js'
import type { Stores } from '../store/stores.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'
import { accountToMail } from './mailable-account.js'
import { newOneTimeToken } from './one-time-token.js'

type ResetMailKind = 'reset-password' | 'account-exists'

/** Issues a reset token (voiding older ones) in one transaction; returns the mail that carries it. */
export async function issuePasswordReset(
  stores: Stores,
  deps: Pick<FlowDeps, 'clock' | 'config'>,
  user: UserRecord,
  kind: ResetMailKind = 'reset-password',
): Promise<Mail> {
  const now = deps.clock.now()
  const { token, hash } = newOneTimeToken()
  await stores.transaction((tx) =>
    tx.oneTimeTokens.issue({
      id: randomUUID(),
      userId: user.id,
      purpose: 'password_reset',
      hash,
      email: user.email,
      createdAt: now,
      expiresAt: new Date(now.getTime() + deps.config.resetTokenTtl * 1000),
    }),
  )
  const link = linkWithToken(deps.config.resetUrl, token)
  const expiresInMinutes = Math.round(deps.config.resetTokenTtl / 60)
  return kind === 'reset-password'
    ? resetPasswordMail({ to: user.email, link, expiresInMinutes })
    : accountExistsMail({ to: user.email, resetLink: link, expiresInMinutes })
}

/**
 * Mails a password-reset link if the address has an account. The caller answers 202 either way;
 * the mail leaves off the request path, so both cases take about the same time.
 */
export async function forgotPassword(
  deps: Pick<FlowDeps, 'stores' | 'mailer' | 'events' | 'clock' | 'config'>,
  email: string,
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  const user = await accountToMail(deps, email, 'password_reset_requested', context)
  if (!user) return
  deps.mailer.send(await issuePasswordReset(deps.stores, deps, user))
}
