import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../deps.js'
import { hashRecoveryCode } from './recovery-codes.js'
import { openTotpSecret, stepOfCode } from './totp.js'

/** A second factor as a request carries it: a TOTP code or a recovery code. */
export interface SecondFactorProof {
  code?: string | undefined
  recoveryCode?: string | undefined
}

/** Whether the user has a confirmed second factor: then a password alone no longer signs in. */
export async function hasSecondFactor(deps: Pick<FlowDeps, 'stores'>, userId: string): Promise<boolean> {
  const totp = await deps.stores.secondFactors.findTotp(userId)
  return totp?.confirmedAt != null
}

/** Refuses a body with neither or both of `code` and `recoveryCode`. */
export function oneProof(proof: SecondFactorProof): 'code' | 'recoveryCode' {
  const given = (['code', 'recoveryCode'] as const).filter((field) => proof[field] !== undefined)
  const [only] = given
  if (given.length !== 1 || only === undefined) {
    throw new TesseraError('VALIDATION_FAILED', {
      detail: 'Send either a code or a recovery code.',
      errors: [{ field: 'code', message: 'give exactly one of code and recoveryCode' }],
    })
  }
  return only
}

/**
 * Checks a TOTP code or a recovery code of the user and spends it: a TOTP code's time step is
 * recorded (that code, and older ones, are refused from then on), a recovery code is used up.
 * False when the code is wrong, used, or the user has no confirmed TOTP.
 */
export async function spendSecondFactor(
  deps: Pick<FlowDeps, 'stores' | 'totpKeys' | 'clock'>,
  userId: string,
  proof: SecondFactorProof,
): Promise<boolean> {
  const kind = oneProof(proof)
  const now = deps.clock.now()
  const store = deps.stores.secondFactors
  if (kind === 'recoveryCode') {
    return store.useRecoveryCode(userId, hashRecoveryCode(proof.recoveryCode ?? ''), now)
  }
  const totp = await store.findTotp(userId)
  if (!totp || totp.confirmedAt === null) return false
  const step = stepOfCode(await openTotpSecret(deps.totpKeys, totp.secretSealed), proof.code ?? '', now)
  // the conditional update decides: of two requests with one code, one records the step
  return step !== undefined && (await store.useTotpStep(userId, step))
}
