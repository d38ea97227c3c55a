import { TesseraError } from '../../errors.js'
import { mfaEnabledMail } from '../../mail/templates.js'
import { webhookUser } from '../../store/webhooks.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import type { IssuedTokens } from '../issued-tokens.js'
import {
  type Enroller,
  enrolledTokens,
  finishEnrolment,
  recordEnrolmentFailure,
  requireEnrolmentAllowed,
  sessionIdOf,
} from './enrolment.js'
import { hashRecoveryCode, newRecoveryCodes } from './recovery-codes.js'
import { enrolmentOf, newTotpSecret, openTotpSecret, sealTotpSecret, stepOfCode } from './totp.js'

export interface TotpSetup {
  /** Base32, for typing into an app by hand. */
  secret: string
  otpauthUri: string
  qrSvg: string
}

/**
 * Starts a TOTP enrolment: a new secret, pending until a code confirms it. Needs a verified email
 * and a recent sign-in (or an enrolment token, see enrolment.ts); TOTP_ALREADY_ENABLED when it is
 * on already.
 */
export async function setupTotp(
  deps: Pick<FlowDeps, 'stores' | 'totpKeys' | 'clock'>,
  enroller: Enroller,
): Promise<TotpSetup> {
  const now = deps.clock.now()
  requireEnrolmentAllowed(enroller, now)
  const { user } = enroller
  const secret = newTotpSecret()
  const saved = await deps.stores.secondFactors.savePendingTotp(
    user.id,
    await sealTotpSecret(deps.totpKeys, secret),
    now,
  )
  if (!saved) throw new TesseraError('TOTP_ALREADY_ENABLED')
  return { secret, ...(await enrolmentOf(secret, user.email)) }
}

/**
 * Confirms the pending TOTP with a first code: the factor is on from now, and the ten recovery
 * codes are returned (this once; only their hashes are kept). The user is mailed. A user enrolling
 * on the way in (an enrolment token) is signed in by the same transaction: `tokens` is their session.
 */
export async function confirmTotp(
  deps: Pick<FlowDeps, 'stores' | 'totpKeys' | 'clock' | 'mailer' | 'events' | 'keyRing' | 'config'>,
  enroller: Enroller,
  code: string,
  context: ClientContext,
): Promise<{ recoveryCodes: string[]; tokens?: IssuedTokens }> {
  const { user } = enroller
  const now = deps.clock.now()
  const pending = await deps.stores.secondFactors.findTotp(user.id)
  if (!pending) throw new TesseraError('NOT_FOUND', { detail: 'No TOTP setup is pending; start one first.' })
  if (pending.confirmedAt !== null) throw new TesseraError('TOTP_ALREADY_ENABLED')
  const step = stepOfCode(await openTotpSecret(deps.totpKeys, pending.secretSealed), code, now)
  if (step === undefined) {
    await recordEnrolmentFailure(deps, enroller)
    deps.events.record({
      type: 'mfa_failed',
      userId: user.id,
      sessionId: sessionIdOf(enroller),
      ...context,
      detail: { during: 'confirm' },
    })
    throw new TesseraError('MFA_CODE_INVALID')
  }
  const recoveryCodes = newRecoveryCodes()
  const enrolled = await deps.stores.transaction(async (tx) => {
    // a parallel confirm of the same setup: one wins, the other hears it is on already
    if (!(await tx.secondFactors.confirmTotp(user.id, step, now)))
      throw new TesseraError('TOTP_ALREADY_ENABLED')
    await tx.webhooks.enqueue({ type: 'mfa.enabled', data: { user: webhookUser(user), method: 'totp' } })
    await tx.secondFactors.replaceRecoveryCodes(user.id, recoveryCodes.map(hashRecoveryCode), now)
    return finishEnrolment(tx, deps, enroller, ['otp'], context)
  })
  deps.mailer.send(mfaEnabledMail({ to: user.email }))
  deps.events.record({
    type: 'mfa_enrolled',
    userId: user.id,
    sessionId: enrolled?.sessionId ?? sessionIdOf(enroller),
    ...context,
    detail: { method: 'totp' },
  })
  if (!enrolled) return { recoveryCodes }
  deps.events.record({
    type: 'login_succeeded',
    userId: user.id,
    sessionId: enrolled.sessionId,
    ...context,
    detail: { mfa: 'enrolled' },
  })
  return { recoveryCodes, tokens: await enrolledTokens(deps, user, enrolled) }
}
