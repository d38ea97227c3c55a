import { TesseraError } from '../../errors.js'
import { mfaDisabledMail } from '../../mail/templates.js'
import { webhookUser } from '../../store/webhooks.js'
import type { Authenticated } from '../authenticate.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { requireRecentSignIn } from './recent-sign-in.js'
import { hashRecoveryCode, newRecoveryCodes } from './recovery-codes.js'
import { spendSecondFactor } from './second-factor.js'

export interface MfaStatus {
  totp: boolean
  passkeys: number
  recoveryCodesLeft: number
}

/** The user's second factors: TOTP on or off, how many passkeys, unused recovery codes. */
export async function mfaStatus(deps: Pick<FlowDeps, 'stores'>, userId: string): Promise<MfaStatus> {
  const [totp, recoveryCodesLeft, passkeys] = await Promise.all([
    deps.stores.secondFactors.findTotp(userId),
    deps.stores.secondFactors.countRecoveryCodes(userId),
    deps.stores.passkeys.countForUser(userId),
  ])
  return { totp: totp?.confirmedAt != null, passkeys, recoveryCodesLeft }
}

type ManageDeps = Pick<FlowDeps, 'stores' | 'totpKeys' | 'clock' | 'events' | 'config'>

/** A recent sign-in and a current code: what removing or renewing a factor asks for. */
async function requireRecentCode(
  deps: ManageDeps,
  { user, session, claims }: Authenticated,
  code: string,
  context: ClientContext,
  during: string,
): Promise<void> {
  requireRecentSignIn(claims, deps.clock.now())
  if (!(await spendSecondFactor(deps, user.id, { code })).ok) {
    deps.events.record({
      type: 'mfa_failed',
      userId: user.id,
      sessionId: session.id,
      ...context,
      detail: { during },
    })
    throw new TesseraError('MFA_CODE_INVALID')
  }
}

/** Turns TOTP off (and voids the recovery codes); the user is mailed. */
export async function disableTotp(
  deps: ManageDeps & Pick<FlowDeps, 'mailer'>,
  authenticated: Authenticated,
  code: string,
  context: ClientContext,
): Promise<void> {
  const { user, session } = authenticated
  await requireRecentCode(deps, authenticated, code, context, 'disable')
  await deps.stores.transaction(async (tx) => {
    if (await tx.secondFactors.removeTotp(user.id)) {
      await tx.webhooks.enqueue({ type: 'mfa.disabled', data: { user: webhookUser(user), method: 'totp' } })
    }
  })
  deps.mailer.send(mfaDisabledMail({ to: user.email }))
  deps.events.record({
    type: 'mfa_disabled',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { method: 'totp' },
  })
}

/** Ten new recovery codes; the old ones are void. */
export async function regenerateRecoveryCodes(
  deps: ManageDeps,
  authenticated: Authenticated,
  code: string,
  context: ClientContext,
): Promise<{ recoveryCodes: string[] }> {
  const { user, session } = authenticated
  await requireRecentCode(deps, authenticated, code, context, 'recovery_codes')
  const recoveryCodes = newRecoveryCodes()
  const hashes = recoveryCodes.map(hashRecoveryCode)
  await deps.stores.transaction((tx) =>
    tx.secondFactors.replaceRecoveryCodes(user.id, hashes, deps.clock.now()),
  )
  deps.events.record({
    type: 'recovery_codes_regenerated',
    userId: user.id,
    sessionId: session.id,
    ...context,
  })
  return { recoveryCodes }
}
