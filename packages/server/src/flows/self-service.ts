import { randomUUID } from 'node:crypto'
import { TesseraError } from '../errors.js'
import { confirmEmailChangeMail, emailChangeRequestedMail, linkWithToken } from '../mail/templates.js'
import type { UserRecord } from '../store/records.js'
import { webhookUser } from '../store/webhooks.js'
import { checkedEmail, emailTakenOnConflict, storableName } from './admin/admin-users.js'
import type { Authenticated } from './authenticate.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'
import { deleteUser } from './manage-users.js'
import { requireRecentSignIn } from './mfa/recent-sign-in.js'
import { hashOneTimeToken, isWellFormedOneTimeToken, newOneTimeToken } from './one-time-token.js'

/**
 * What changing the address or deleting the account asks of a signed-in user: the password, or a
 * recent sign-in (STEP_UP_REQUIRED otherwise, as for the second factors). A wrong password is
 * INVALID_CREDENTIALS, which is not a token problem: the client does not refresh on it.
 */
async function requirePasswordOrRecent(
  deps: Pick<FlowDeps, 'hasher' | 'clock'>,
  { user, claims }: Authenticated,
  password: string | undefined,
): Promise<void> {
  if (password === undefined) {
    requireRecentSignIn(claims, deps.clock.now())
    return
  }
  const check =
    user.passwordHash === null ? { ok: false } : await deps.hasher.verify(user.passwordHash, password)
  if (!check.ok) throw new TesseraError('INVALID_CREDENTIALS', { detail: 'The password is incorrect.' })
}

/** PATCH /auth/me: the user's own name (null or empty clears it). Not in tokens: nothing goes stale. */
export async function updateProfile(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  { user, session }: Authenticated,
  input: { name: string | null },
  context: ClientContext = NO_CLIENT,
): Promise<UserRecord> {
  const name = storableName(input.name)
  if (name === user.name) return user
  const updated = await deps.stores.transaction(async (tx) => {
    const after = await tx.users.update(user.id, { name }, deps.clock.now(), false)
    if (after)
      await tx.webhooks.enqueue({
        type: 'user.updated',
        data: { user: webhookUser(after), changed: ['name'] },
      })
    return after
  })
  if (!updated) throw new TesseraError('TOKEN_INVALID')
  deps.events.record({
    type: 'user.updated',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { actor: user.id, fields: 'name' },
  })
  return updated
}

/**
 * POST /auth/email: mails a link to the new address (a one-time token living as long as a
 * verification link) and tells the old address. The answer is the same whether or not the new
 * address has an account, so it tells nobody which addresses do: a taken address gets no link.
 */
export async function requestEmailChange(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'mailer' | 'events' | 'clock' | 'config'>,
  auth: Authenticated,
  input: { newEmail: string; password?: string | undefined },
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  const { email, normalized } = checkedEmail(input.newEmail, 'newEmail')
  await requirePasswordOrRecent(deps, auth, input.password)
  const { user, session } = auth
  if (email === user.email) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'newEmail', message: 'is the current address' }],
    })
  }
  const holder =
    normalized === user.emailNormalized ? undefined : await deps.stores.users.findByEmail(normalized)
  const mailed = holder === undefined
  const { token, hash } = newOneTimeToken()
  const now = deps.clock.now()
  await deps.stores.transaction(async (tx) => {
    // only the latest request counts, whether or not it mailed a link: an earlier link (perhaps
    // asked for by someone else with this session) dies
    await tx.oneTimeTokens.voidAll(user.id, 'email_change', now)
    if (mailed) {
      await tx.oneTimeTokens.issue({
        id: randomUUID(),
        userId: user.id,
        purpose: 'email_change',
        hash,
        email,
        createdAt: now,
        expiresAt: new Date(now.getTime() + deps.config.verifyTokenTtl * 1000),
      })
    }
  })
  deps.events.record({
    type: 'email_change_requested',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { mailed },
  })
  if (mailed) {
    deps.mailer.send(
      confirmEmailChangeMail({
        to: email,
        link: linkWithToken(deps.config.emailChangeUrl, token),
        expiresInMinutes: Math.round(deps.config.verifyTokenTtl / 60),
      }),
    )
  }
  deps.mailer.send(emailChangeRequestedMail({ to: user.email, newEmail: email }))
}

/**
 * POST /auth/email/confirm: the link's address becomes the account's, verified. The user's access
 * tokens go stale (a `user` revocation event), so a refresh gets the new `email`; the sessions
 * stay. Links mailed to the old address (reset, verification, magic links) die. EMAIL_TAKEN when
 * another account took the address since the link was mailed; the link then stays unused.
 */
export async function confirmEmailChange(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  token: string,
  context: ClientContext = NO_CLIENT,
): Promise<void> {
  if (!isWellFormedOneTimeToken(token)) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  const hash = hashOneTimeToken(token)
  const user = await emailTakenOnConflict(() =>
    deps.stores.transaction(async (tx) => {
      const now = deps.clock.now()
      const used = await tx.oneTimeTokens.consume(hash, 'email_change', now)
      if (!used) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
      const user = await tx.users.findById(used.userId)
      if (!user || user.disabledAt !== null) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
      const { email, normalized } = checkedEmail(used.email)
      if (normalized !== user.emailNormalized && (await tx.users.findByEmail(normalized))) {
        throw new TesseraError('EMAIL_TAKEN')
      }
      const updated = await tx.users.update(
        user.id,
        { email: { email, emailNormalized: normalized }, emailVerified: true },
        now,
        true,
      )
      for (const purpose of ['email_change', 'password_reset', 'email_verification', 'magic_link'] as const) {
        await tx.oneTimeTokens.voidAll(user.id, purpose, now)
      }
      const changed = updated ?? user
      await tx.webhooks.enqueue({
        type: 'user.updated',
        data: { user: webhookUser(changed), changed: ['email', 'emailVerified'] },
      })
      await tx.webhooks.enqueue({
        type: 'email.verified',
        data: { user: webhookUser(changed), via: 'email_change' },
      })
      return changed
    }),
  )
  deps.events.record({
    type: 'user.updated',
    userId: user.id,
    ...context,
    detail: { actor: user.id, fields: 'email,emailVerified' },
  })
}

/**
 * DELETE /auth/me: deletes the user's own account (the password, or a recent sign-in), as
 * `tessera users delete` does: its sessions go with it and a `user` revocation event fires.
 */
export async function deleteOwnAccount(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'events' | 'clock'>,
  auth: Authenticated,
  input: { password?: string | undefined },
): Promise<void> {
  await requirePasswordOrRecent(deps, auth, input.password)
  await deleteUser(deps, auth.user.id, auth.user.id)
}
