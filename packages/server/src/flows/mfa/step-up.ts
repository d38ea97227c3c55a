import { TesseraError } from '../../errors.js'
import type { Authenticated } from '../authenticate.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { countFailedAttempt } from '../failed-attempt.js'
import { accessTokenFor } from '../issued-tokens.js'
import { signedInWith } from '../sign-in-methods.js'
import {
  hasSecondFactor,
  oneProof,
  type SecondFactorProof,
  type SpentFactor,
  spendSecondFactor,
} from './second-factor.js'

export type StepUpInput = SecondFactorProof & { password?: string | undefined }

/**
 * RFC 9470 step-up for the current session: a second factor (or, for a user without one, the
 * password) renews `auth_time` and adds the factor to `amr`; the session's tokens from now on say
 * so, and a new access token for the same session is returned. Wrong answers count toward the
 * account lockout, so a stolen access token is no way to guess the password.
 */
export async function stepUp(
  deps: Pick<
    FlowDeps,
    'stores' | 'hasher' | 'keyRing' | 'totpKeys' | 'events' | 'limits' | 'clock' | 'config'
  >,
  { user, session }: Pick<Authenticated, 'user' | 'session'>,
  input: StepUpInput,
  context: ClientContext,
): Promise<{ accessToken: string; expiresIn: number }> {
  const given = [input.code, input.recoveryCode, input.passkey, input.password].filter(
    (value) => value !== undefined,
  )
  if (given.length !== 1) {
    throw new TesseraError('VALIDATION_FAILED', {
      detail: 'Send exactly one of code, recoveryCode, passkey and password.',
      errors: [{ field: 'code', message: 'give exactly one of code, recoveryCode, passkey and password' }],
    })
  }
  if (input.password !== undefined && input.challengeId !== undefined) {
    throw new TesseraError('VALIDATION_FAILED', {
      detail: 'A challengeId comes with a passkey only.',
      errors: [{ field: 'challengeId', message: 'send challengeId with passkey, and only then' }],
    })
  }
  const kind = input.password === undefined ? oneProof(input) : undefined
  const withFactor = await hasSecondFactor(deps, user.id)
  if (input.password !== undefined && withFactor) {
    // a password alone would let whoever holds it and a stolen token pass for the second factor
    throw new TesseraError('VALIDATION_FAILED', {
      detail: 'This account has a second factor: step up with it (a code, a recovery code or a passkey).',
      errors: [{ field: 'password', message: 'use code, recoveryCode or passkey' }],
    })
  }
  const attempt = await deps.limits.lockout.begin(user.emailNormalized)
  if (attempt.lockedFor !== undefined)
    throw new TesseraError('ACCOUNT_LOCKED', { retryAfter: attempt.lockedFor })
  let spent: SpentFactor
  try {
    if (input.password === undefined) spent = await spendSecondFactor(deps, user.id, input)
    else {
      // an account without a password (a magic link took it over) has none to step up with
      const right =
        user.passwordHash !== null && (await deps.hasher.verify(user.passwordHash, input.password)).ok
      spent = right ? { ok: true, methods: ['pwd'] } : { ok: false, reason: 'wrong_password' }
    }
  } catch (error) {
    // no verdict (an outage, a dead passkey challenge): the attempt does not count
    await attempt.abandoned()
    throw error
  }
  const method = input.password !== undefined ? 'pwd' : kind === 'passkey' ? 'passkey' : 'otp'
  if (!spent.ok) {
    await countFailedAttempt(deps, attempt, user.id, context)
    if (method === 'pwd') {
      deps.events.record({
        type: 'login_failed',
        userId: user.id,
        ...context,
        detail: { reason: 'step_up_wrong_password' },
      })
      throw new TesseraError('INVALID_CREDENTIALS', { detail: 'The password is incorrect.' })
    }
    deps.events.record({
      type: 'mfa_failed',
      userId: user.id,
      sessionId: session.id,
      ...context,
      detail: { during: 'step_up', method, reason: spent.reason },
    })
    throw new TesseraError(method === 'passkey' ? 'PASSKEY_INVALID' : 'MFA_CODE_INVALID')
  }
  await attempt.succeeded()
  const now = deps.clock.now()
  const auth = signedInWith([...session.amr, ...spent.methods], now)
  // the session may have ended since the request was authenticated
  if (!(await deps.stores.sessions.setAuth(session.id, auth, now))) throw new TesseraError('TOKEN_REVOKED')
  deps.events.record({
    type: 'step_up',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { method },
  })
  return accessTokenFor(deps, user, session.id, auth)
}
