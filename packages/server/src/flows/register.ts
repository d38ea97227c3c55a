import { randomUUID } from 'node:crypto'
import { normalizeEmail } from '../email-address.js'
import { TesseraError } from '../errors.js'
import { webhookUser } from '../store/webhooks.js'
import type { ClientContext, FlowDeps } from './deps.js'
import { issuePasswordReset } from './forgot-password.js'
import { accessTokenFor, type IssuedTokens, openSession } from './issued-tokens.js'
import { signedInWith } from './sign-in-methods.js'
import { issueVerification } from './verify-email.js'

export interface RegisterInput {
  email: string
  password: string
  name?: string | undefined
}

export const DEFAULT_ROLES = ['user']

export type RegisterResult =
  | { kind: 'signed-in'; tokens: IssuedTokens }
  /** TESSERA_REQUIRE_EMAIL_VERIFICATION: no session until the address is confirmed. */
  | { kind: 'verification-pending' }

/**
 * Creates an account and mails a verification link. Without required verification the user is
 * signed in at once (user, session and first refresh token in one transaction) and a taken email
 * is EMAIL_TAKEN. With it, a new and a taken email get the same answer; the owner of the taken one
 * gets a notice instead, so registration reveals nothing about who has an account.
 */
export async function register(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'policy' | 'mailer' | 'keyRing' | 'events' | 'clock' | 'config'>,
  input: RegisterInput,
  context: ClientContext,
): Promise<RegisterResult> {
  const { email, normalized } = normalizeEmail(input.email)
  // stored text is NFC, as the email is: one way to write each name
  const name = input.name?.trim().normalize('NFC') || null
  await deps.policy.check(input.password, { email, name })
  // hash before touching the database: the unique index, not a prior lookup, decides a race; and
  // a taken email spends the same time as a new one
  const passwordHash = await deps.hasher.hash(input.password)
  const pendingOnly = deps.config.requireEmailVerification

  const outcome = await deps.stores.transaction(async (tx) => {
    const user = await tx.users.create({
      id: randomUUID(),
      email,
      emailNormalized: normalized,
      name,
      passwordHash,
      roles: DEFAULT_ROLES,
      createdAt: deps.clock.now(),
    })
    if (user === 'email_taken') {
      if (!pendingOnly) throw new TesseraError('EMAIL_TAKEN')
      return { kind: 'taken' as const }
    }
    await tx.webhooks.enqueue({ type: 'user.created', data: { user: webhookUser(user), via: 'register' } })
    const mail = await issueVerification(tx, deps, user)
    if (pendingOnly) return { kind: 'created' as const, mail, user }
    const auth = signedInWith(['pwd'], deps.clock.now())
    return {
      kind: 'signed-in' as const,
      mail,
      user,
      auth,
      ...(await openSession(tx, deps, user, context, auth)),
    }
  })

  if (outcome.kind === 'taken') {
    const owner = await deps.stores.users.findByEmail(normalized)
    // the owner hears of it, with a reset link in case that is why they tried to register
    if (owner && owner.disabledAt === null) {
      deps.mailer.send(await issuePasswordReset(deps.stores, deps, owner, 'account-exists'))
    }
    return { kind: 'verification-pending' }
  }
  deps.mailer.send(outcome.mail)
  deps.events.record({
    type: 'register',
    userId: outcome.user.id,
    sessionId: outcome.kind === 'signed-in' ? outcome.sessionId : null,
    ...context,
  })
  if (outcome.kind === 'created') return { kind: 'verification-pending' }
  const { user, sessionId, refreshToken, refreshExpiresAt, auth } = outcome
  return {
    kind: 'signed-in',
    tokens: {
      user,
      sessionId,
      refreshToken,
      refreshExpiresAt,
      ...(await accessTokenFor(deps, user, sessionId, auth)),
    },
  }
}
