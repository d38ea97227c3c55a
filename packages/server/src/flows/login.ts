import { normalizeEmail } from '../email-address.js'
import { type ErrorCode, TesseraError } from '../errors.js'
import type { ClientContext, FlowDeps } from './deps.js'
import { countFailedAttempt } from './failed-attempt.js'
import {
  accessTokenFor,
  type IssuedTokens,
  openSession,
  openSessionUnlessSecondFactor,
} from './issued-tokens.js'
import { mustEnrol } from './mfa/enrolment.js'
import type { EnrolmentChallenge, MfaChallenge } from './mfa/mfa-sign-in.js'
import { hasSecondFactor } from './mfa/second-factor.js'
import { secondStepAfter, secondStepOutcome } from './second-step.js'
import { signedInWith } from './sign-in-methods.js'

export interface LoginInput {
  email: string
  password: string
}

/**
 * A signed-in user's tokens; for an account with a second factor, the challenge for it; for a user
 * whose role requires a second factor they do not have yet, the token to enrol one with.
 */
export type LoginOutcome =
  | { kind: 'signed-in'; tokens: IssuedTokens }
  | ({ kind: 'mfa-required'; userId: string } & MfaChallenge)
  | ({ kind: 'enrolment-required'; userId: string } & EnrolmentChallenge)

/**
 * Checks the password and opens a new session; a login never continues an existing one. An
 * account with a confirmed second factor gets an mfaToken instead, for POST /auth/mfa/verify; a
 * user holding a role of TESSERA_MFA_REQUIRED_ROLES without one gets an enrolment token.
 */
export async function login(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'keyRing' | 'events' | 'limits' | 'clock' | 'config'>,
  input: LoginInput,
  context: ClientContext,
): Promise<LoginOutcome> {
  const { normalized } = normalizeEmail(input.email)
  // the audit log is internal, so it may name the account; never the password, and for an unknown
  // account not the typed email either (it is sometimes the password, typed in the wrong field)
  const failed = (reason: string, userId: string | null, code: ErrorCode) => {
    deps.events.record({ type: 'login_failed', userId, ...context, detail: { reason } })
    return new TesseraError(code)
  }
  // the lockout comes before any hashing, and counts an email whether or not it has an account, so
  // a lock says nothing about the account
  const attempt = await deps.limits.lockout.begin(normalized)
  if (attempt.lockedFor !== undefined) {
    deps.events.record({
      type: 'login_failed',
      userId: null,
      ...context,
      detail: { reason: 'account_locked' },
    })
    throw new TesseraError('ACCOUNT_LOCKED', { retryAfter: attempt.lockedFor })
  }
  // an error before the verdict on the password gives the attempt back: an outage locks no one
  const abandon = async (error: unknown): Promise<never> => {
    await attempt.abandoned()
    throw error
  }
  const countFailure = (userId: string | null) => countFailedAttempt(deps, attempt, userId, context)
  const user = await deps.stores.users.findByEmail(normalized).catch(abandon)
  if (!user) {
    // verify against a dummy hash, so an unknown email takes as long as a wrong password
    await deps.hasher.verifyDummy(input.password).catch(abandon)
    await countFailure(null)
    throw failed('unknown_user', null, 'INVALID_CREDENTIALS')
  }
  if (user.passwordHash === null) {
    // no password to check (a magic link removed the one set before the address was verified):
    // answered and timed as a wrong password, and counted like one
    await deps.hasher.verifyDummy(input.password).catch(abandon)
    await countFailure(user.id)
    throw failed('no_password', user.id, 'INVALID_CREDENTIALS')
  }
  const checkedHash = user.passwordHash
  const check = await deps.hasher.verify(checkedHash, input.password).catch(abandon)
  if (!check.ok) {
    await countFailure(user.id)
    throw failed('wrong_password', user.id, 'INVALID_CREDENTIALS')
  }
  await attempt.succeeded()
  // only someone with the password learns the account is disabled
  if (user.disabledAt !== null) throw failed('account_disabled', user.id, 'ACCOUNT_DISABLED')
  if (deps.config.requireEmailVerification && !user.emailVerified)
    throw failed('email_not_verified', user.id, 'EMAIL_NOT_VERIFIED')

  // bcrypt or weaker argon2 parameters: upgrade while we hold the plain password, hashing before
  // the transaction so no lock waits on argon2
  const upgradedHash = check.needsRehash ? await upgrade(deps, input.password) : undefined
  // enrolling needs a verified address: say so now rather than at a setup that cannot succeed
  if (!user.emailVerified && mustEnrol(deps.config, user) && !(await hasSecondFactor(deps, user.id))) {
    deps.events.record({
      type: 'login_failed',
      userId: user.id,
      ...context,
      detail: { reason: 'email_not_verified' },
    })
    throw new TesseraError('EMAIL_NOT_VERIFIED', {
      detail:
        'Your role requires a second factor, and adding one needs a verified email address: ' +
        'open the link we mailed you (or ask for a new one), then sign in again.',
    })
  }
  const auth = signedInWith(['pwd'], deps.clock.now())
  // the common case (no hash to upgrade, no role that requires a second factor, none held) is one
  // statement that checks for a second factor and opens the session; the rest, a transaction
  const direct =
    upgradedHash === undefined && !mustEnrol(deps.config, user)
      ? await openSessionUnlessSecondFactor(deps, user, context, auth)
      : undefined
  const signIn = (upgrade: string | undefined) =>
    deps.stores.transaction(async (tx) => {
      // only over the hash the password was checked against: a reset or change that committed
      // while this login hashed must not be undone by the old password's upgrade
      if (upgrade && !(await tx.users.upgradePasswordHash(user.id, checkedHash, upgrade, deps.clock.now())))
        return { kind: 'hash-changed' as const }
      const step = await secondStepAfter(tx, deps, user, 'pwd')
      if (step) return { kind: 'second-step' as const, step }
      return { kind: 'signed-in' as const, opened: await openSession(tx, deps, user, context, auth) }
    })
  let outcome = direct ? { kind: 'signed-in' as const, opened: direct } : await signIn(upgradedHash)
  if (outcome.kind === 'hash-changed') {
    // another login's upgrade (the same password) or a new password: only the first signs in
    const current = (await deps.stores.users.findById(user.id))?.passwordHash ?? null
    const still = current !== null && (await deps.hasher.verify(current, input.password)).ok
    if (!still) throw failed('password_changed', user.id, 'INVALID_CREDENTIALS')
    outcome = await signIn(undefined)
    if (outcome.kind === 'hash-changed') throw failed('password_changed', user.id, 'INVALID_CREDENTIALS')
  }
  if (outcome.kind === 'second-step') return secondStepOutcome(deps, user.id, outcome.step, 'pwd', context)
  const { opened } = outcome
  deps.events.record({ type: 'login_succeeded', userId: user.id, sessionId: opened.sessionId, ...context })
  return {
    kind: 'signed-in',
    tokens: { user, ...opened, ...(await accessTokenFor(deps, user, opened.sessionId, auth)) },
  }
}

/** A fresh hash for an upgrade, or undefined when hashing is too busy: the upgrade waits for a later login. */
async function upgrade(deps: Pick<FlowDeps, 'hasher'>, password: string): Promise<string | undefined> {
  try {
    return await deps.hasher.hash(password)
  } catch (error) {
    if (error instanceof TesseraError && error.code === 'SERVICE_UNAVAILABLE') return undefined
    throw error
  }
}
