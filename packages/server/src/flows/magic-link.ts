import { randomUUID } from 'node:crypto'
import { TesseraError } from '../errors.js'
import { linkWithToken, magicLinkMail } from '../mail/templates.js'
import { webhookUser } from '../store/webhooks.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'
import { accessTokenFor, openSession } from './issued-tokens.js'
import type { LoginOutcome } from './login.js'
import { accountToMail } from './mailable-account.js'
import { hashOneTimeToken, isWellFormedOneTimeToken, newOneTimeToken } from './one-time-token.js'
import { secondStepAfter, secondStepOutcome } from './second-step.js'
import { AMR_MAGIC_LINK, signedInWith } from './sign-in-methods.js'

/**
 * Mails a sign-in link if the address has an enabled account; older unused links of the user die.
 * The caller answers 202 either way, and the mail leaves off the request path, as forgot-password
 * does, so the answer tells nobody which addresses have accounts. No account is created here.
 */
export async function requestMagicLink(
  deps: Pick<FlowDeps, 'stores' | 'mailer' | 'events' | 'clock' | 'config'>,
  email: string,
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  const user = await accountToMail(deps, email, 'magic_link_requested', context)
  if (!user) return
  const now = deps.clock.now()
  const { token, hash } = newOneTimeToken()
  await deps.stores.transaction((tx) =>
    tx.oneTimeTokens.issue({
      id: randomUUID(),
      userId: user.id,
      purpose: 'magic_link',
      hash,
      // the address the link proves: if the account's address changes, the link signs nobody in
      email: user.email,
      createdAt: now,
      expiresAt: new Date(now.getTime() + deps.config.magicLinkTtl * 1000),
    }),
  )
  deps.mailer.send(
    magicLinkMail({
      to: user.email,
      link: linkWithToken(deps.config.magicLinkUrl, token),
      expiresInMinutes: Math.round(deps.config.magicLinkTtl / 60),
    }),
  )
}

/**
 * Signs in with the token of a magic link: single use, for the address it was mailed to, which now
 * counts as verified. An address verified here for the first time may have been registered by
 * someone else before its owner (pre-hijacking): the password and every session of the account go
 * first, in the same transaction, so that person keeps nothing. An account with a second factor
 * gets an mfaToken whose first factor is the link (`magic_link`), as login's is the password.
 */
export async function signInWithMagicLink(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'events' | 'limits' | 'clock' | 'config'>,
  token: string,
  context: ClientContext,
): Promise<LoginOutcome> {
  if (!isWellFormedOneTimeToken(token)) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  const hash = hashOneTimeToken(token)
  // looked at before it is used up, so a link to a disabled account says so without dying
  const pending = await deps.stores.oneTimeTokens.peek(hash, 'magic_link', deps.clock.now())
  if (!pending) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  const found = await deps.stores.users.findById(pending.userId)
  if (!found || found.email !== pending.email) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  if (found.disabledAt !== null) {
    deps.events.record({
      type: 'login_failed',
      userId: found.id,
      ...context,
      detail: { reason: 'account_disabled', method: AMR_MAGIC_LINK },
    })
    throw new TesseraError('ACCOUNT_DISABLED')
  }

  const now = deps.clock.now()
  const auth = signedInWith([AMR_MAGIC_LINK], now)
  const outcome = await deps.stores.transaction(async (tx) => {
    // the atomic step: of two parallel uses of one link, one gets the row, the other nothing
    const used = await tx.oneTimeTokens.consume(hash, 'magic_link', now)
    if (!used || used.userId !== found.id) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    const current = await tx.users.findById(found.id)
    if (!current || current.disabledAt !== null) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    const takeover = !current.emailVerified
    // false when the address changed since the mail went out: the link confirms nothing then
    if (!(await tx.users.markEmailVerified(current.id, used.email, now))) {
      throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    }
    let sessionsRevoked = 0
    if (takeover) {
      await tx.users.removePassword(current.id, now)
      sessionsRevoked = await tx.sessions.revokeAllForUser(current.id, now, 'magic_link_takeover')
    }
    const user = {
      ...current,
      emailVerified: true,
      passwordHash: takeover ? null : current.passwordHash,
    }
    if (takeover) {
      await tx.webhooks.enqueue({
        type: 'email.verified',
        data: {
          user: webhookUser(user),
          via: AMR_MAGIC_LINK,
          passwordRemoved: current.passwordHash !== null,
        },
      })
    }
    const verified = { takeover, hadPassword: current.passwordHash !== null, sessionsRevoked }
    const step = await secondStepAfter(tx, deps, user, AMR_MAGIC_LINK)
    if (step) return { kind: 'second-step' as const, user, verified, step }
    return {
      kind: 'signed-in' as const,
      user,
      verified,
      opened: await openSession(tx, deps, user, context, auth),
    }
  })

  const { user, verified } = outcome
  if (verified.takeover) {
    deps.events.record({
      type: 'email_verified',
      userId: user.id,
      ...context,
      detail: {
        via: AMR_MAGIC_LINK,
        passwordRemoved: verified.hadPassword,
        sessionsRevoked: verified.sessionsRevoked,
      },
    })
  }
  // whoever holds the mailbox may sign in again at once, as after a password reset (which clears
  // the lock whatever factors the account has): a lock left here would refuse the second factor
  await deps.limits.lockout.clear(user.emailNormalized)
  if (outcome.kind === 'second-step') {
    return secondStepOutcome(deps, user.id, outcome.step, AMR_MAGIC_LINK, context)
  }
  const { opened } = outcome
  deps.events.record({
    type: 'login_succeeded',
    userId: user.id,
    sessionId: opened.sessionId,
    ...context,
    detail: { method: AMR_MAGIC_LINK },
  })
  return {
    kind: 'signed-in',
    tokens: { user, ...opened, ...(await accessTokenFor(deps, user, opened.sessionId, auth)) },
  }
}
