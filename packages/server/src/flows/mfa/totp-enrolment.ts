import { TesseraError } from '../../errors.js'
import { mfaEnabledMail } from '../../mail/templates.js'
import type { Authenticated } from '../authenticate.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { requireRecentSignIn } from './recent-sign-in.js'
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
 * (a stolen token or a pre-registered unverified account must not gain a permanent way in) and a
 * recent sign-in; TOTP_ALREADY_ENABLED when it is on already.
 */
export async function setupTotp(
  deps: Pick<FlowDeps, 'stores' | 'totpKeys' | 'clock'>,
  { user, claims }: Pick<Authenticated, 'user' | 'claims'>,
): Promise<TotpSetup> {
  if (!user.emailVerified) {
    throw new TesseraError('EMAIL_NOT_VERIFIED', {
      detail: 'Verify your email address before adding a second factor.',
    })
  }
  const now = deps.clock.now()
  requireRecentSignIn(claims, now)
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
 * codes are returned (this once; only their hashes are kept). The user is mailed.
 */
export async function confirmTotp(
  deps: Pick<FlowDeps, 'stores' | 'totpKeys' | 'clock' | 'mailer' | 'events'>,
  { user, session }: Pick<Authenticated, 'user' | 'session'>,
  code: string,
  context: ClientContext,
): Promise<{ recoveryCodes: string[] }> {
  const now = deps.clock.now()
  const pending = await deps.stores.secondFactors.findTotp(user.id)
  if (!pending) throw new TesseraError('NOT_FOUND', { detail: 'No TOTP setup is pending; start one first.' })
  if (pending.confirmedAt !== null) throw new TesseraError('TOTP_ALREADY_ENABLED')
  const step = stepOfCode(await openTotpSecret(deps.totpKeys, pending.secretSealed), code, now)
  if (step === undefined) {
    deps.events.record({
      type: 'mfa_failed',
      userId: user.id,
      sessionId: session.id,
      ...context,
      detail: { during: 'confirm' },
    })
    throw new TesseraError('MFA_CODE_INVALID')
  }
  const recoveryCodes = newRecoveryCodes()
  await deps.stores.transaction(async (tx) => {
    // a parallel confirm of the same setup: one wins, the other hears it is on already
    if (!(await tx.secondFactors.confirmTotp(user.id, step, now)))
      throw new TesseraError('TOTP_ALREADY_ENABLED')
    await tx.secondFactors.replaceRecoveryCodes(user.id, recoveryCodes.map(hashRecoveryCode), now)
  })
  deps.mailer.send(mfaEnabledMail({ to: user.email }))
  deps.events.record({
    type: 'mfa_enrolled',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { method: 'totp' },
  })
  return { recoveryCodes }
}
