import { TesseraError } from '../../errors.js'
import type { Stores } from '../../store/stores.js'
import type { FlowDeps } from '../deps.js'
import { type PasskeyCeremony, spendPasskey } from '../passkeys/passkey-factor.js'
import type { AssertionAnswer } from '../passkeys/relying-party.js'
import { hashRecoveryCode } from './recovery-codes.js'
import { openTotpSecret, stepOfCode } from './totp.js'

/** The second-factor methods a sign-in may offer, as `mfa_required` names them. */
export const MFA_METHODS = ['totp', 'recovery_code', 'passkey'] as const
export type MfaMethod = (typeof MFA_METHODS)[number]

/**
 * A second factor as a request carries it: a TOTP code, a recovery code, or a passkey's answer
 * (`navigator.credentials.get`) to the challenge `challengeId`.
 */
export interface SecondFactorProof {
  code?: string | undefined
  recoveryCode?: string | undefined
  passkey?: AssertionAnswer | undefined
  challengeId?: string | undefined
}

export type ProofKind = 'code' | 'recoveryCode' | 'passkey'

/** What checking a second factor found: the RFC 8176 methods it adds to `amr`, or a refusal. */
export type SpentFactor = { ok: true; methods: string[] } | { ok: false; reason: string }

/** The second factors the user can answer with: TOTP (and its recovery codes), passkeys. */
export async function secondFactorsOf(
  deps: { stores: Pick<Stores, 'secondFactors' | 'passkeys'> },
  userId: string,
): Promise<MfaMethod[]> {
  const [totp, passkeys] = await Promise.all([
    deps.stores.secondFactors.findTotp(userId),
    deps.stores.passkeys.countForUser(userId),
  ])
  const methods: MfaMethod[] = totp?.confirmedAt != null ? ['totp', 'recovery_code'] : []
  return passkeys > 0 ? [...methods, 'passkey'] : methods
}

/** Whether the user has a confirmed second factor: then a password alone no longer signs in. */
export async function hasSecondFactor(deps: Pick<FlowDeps, 'stores'>, userId: string): Promise<boolean> {
  return (await secondFactorsOf(deps, userId)).length > 0
}

/** Refuses a body with none or several of `code`, `recoveryCode` and `passkey` (with its `challengeId`). */
export function oneProof(proof: SecondFactorProof): ProofKind {
  const given = (['code', 'recoveryCode', 'passkey'] as const).filter((field) => proof[field] !== undefined)
  const [only] = given
  if (given.length !== 1 || only === undefined) {
    throw new TesseraError('VALIDATION_FAILED', {
      detail: 'Send one of a code, a recovery code or a passkey.',
      errors: [{ field: 'code', message: 'give exactly one of code, recoveryCode and passkey' }],
    })
  }
  if ((only === 'passkey') !== (proof.challengeId !== undefined)) {
    throw new TesseraError('VALIDATION_FAILED', {
      detail: 'A passkey comes with the challengeId of its options, and only a passkey does.',
      errors: [{ field: 'challengeId', message: 'send challengeId with passkey, and only then' }],
    })
  }
  return only
}

/**
 * Checks a second factor of the user and spends it: a TOTP code's time step is recorded (that
 * code, and older ones, are refused from then on), a recovery code is used up, a passkey's
 * challenge is spent and its counter moved on. Refused when the code is wrong or used, the user
 * has no such factor, or the passkey does not verify; CHALLENGE_INVALID (thrown) when the
 * passkey's challenge is not one of `ceremony`'s.
 */
export async function spendSecondFactor(
  deps: Pick<FlowDeps, 'stores' | 'totpKeys' | 'clock' | 'config'>,
  userId: string,
  proof: SecondFactorProof,
  ceremony: PasskeyCeremony = { purpose: 'step-up' },
): Promise<SpentFactor> {
  const kind = oneProof(proof)
  const now = deps.clock.now()
  const store = deps.stores.secondFactors
  const refused: SpentFactor = { ok: false, reason: 'wrong_code' }
  if (kind === 'passkey' && proof.passkey !== undefined && proof.challengeId !== undefined) {
    return spendPasskey(deps, userId, { passkey: proof.passkey, challengeId: proof.challengeId }, ceremony)
  }
  if (kind === 'recoveryCode') {
    const used = await store.useRecoveryCode(userId, hashRecoveryCode(proof.recoveryCode ?? ''), now)
    return used ? { ok: true, methods: ['otp'] } : refused
  }
  const totp = await store.findTotp(userId)
  if (!totp || totp.confirmedAt === null) return refused
  const step = stepOfCode(await openTotpSecret(deps.totpKeys, totp.secretSealed), proof.code ?? '', now)
  // the conditional update decides: of two requests with one code, one records the step
  return step !== undefined && (await store.useTotpStep(userId, step))
    ? { ok: true, methods: ['otp'] }
    : refused
}
