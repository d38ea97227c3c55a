import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../deps.js'
import type { SpentFactor } from '../mfa/second-factor.js'
import {
  type AssertionAnswer,
  assertionCeremony,
  type Ceremony,
  takeChallenge,
  verifyAssertion,
} from './relying-party.js'

/**
 * Where a passkey serves as a second factor: finishing the pending sign-in of an mfaToken, or a
 * step-up of the signed-in user. Its challenge must have been made for the same.
 */
export type PasskeyCeremony = { purpose: 'mfa'; mfaTokenId: string } | { purpose: 'step-up' }

/**
 * Options for `navigator.credentials.get` with the user's passkeys as the allowed credentials, for
 * a second factor (`mfa`, bound to the pending sign-in) or a step-up (bound to the user).
 * NOT_FOUND when the user has no passkey.
 */
export async function passkeyFactorOptions(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  userId: string,
  ceremony: PasskeyCeremony,
): Promise<Ceremony<PublicKeyCredentialRequestOptionsJSON>> {
  const passkeys = await deps.stores.passkeys.listForUser(userId)
  if (passkeys.length === 0) {
    throw new TesseraError('NOT_FOUND', { detail: 'This account has no passkey.' })
  }
  return assertionCeremony(
    deps,
    ceremony.purpose,
    passkeys,
    ceremony.purpose === 'mfa' ? { userId, mfaTokenId: ceremony.mfaTokenId } : { userId },
  )
}

/**
 * Checks a passkey's answer as the user's second factor: the challenge must be the ceremony's
 * (CHALLENGE_INVALID otherwise, thrown: no verdict on the passkey), and the passkey one of the
 * user's that verifies. User verification is welcome, not required (the first factor was given).
 */
export async function spendPasskey(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  userId: string,
  proof: { passkey: AssertionAnswer; challengeId: string },
  ceremony: PasskeyCeremony,
): Promise<SpentFactor> {
  const challenge = await takeChallenge(
    deps,
    proof.challengeId,
    ceremony.purpose,
    ceremony.purpose === 'mfa' ? { userId, mfaTokenId: ceremony.mfaTokenId } : { userId },
  )
  const outcome = await verifyAssertion(deps, challenge, proof.passkey, {
    userId,
    requireUserVerification: false,
  })
  return outcome.ok ? { ok: true, methods: outcome.use.methods } : { ok: false, reason: outcome.reason }
}
