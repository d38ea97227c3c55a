import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import { TesseraError } from '../../errors.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { type IssuedTokens, openSignedInSession } from '../issued-tokens.js'
import { signedInWith } from '../sign-in-methods.js'
import {
  type AssertionAnswer,
  assertionCeremony,
  type Ceremony,
  takeChallenge,
  verifyAssertion,
} from './relying-party.js'

/**
 * Options for a sign-in with a passkey alone: no allowed credentials (the browser offers the
 * discoverable ones it holds for the relying party, so nobody types an email), user
 * verification required.
 */
export const passkeyLoginOptions = (
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
): Promise<Ceremony<PublicKeyCredentialRequestOptionsJSON>> => assertionCeremony(deps, 'login', [], {})

/**
 * Signs in with a passkey alone: the answer must be to a login challenge, by a registered passkey
 * that verified its user (a PIN or biometric on the device), so the session is multi-factor:
 * `amr` `hwk`/`swk`, `user`, `mfa`. Opens a new session like login.
 *
 * The account lockout, which guards the password against guessing, neither stops nor counts a
 * passkey sign-in: a passkey cannot be guessed, and someone guessing the password must not lock
 * its owner out of the passkey too. The per-address rate limits bound the attempts.
 */
export async function signInWithPasskey(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'events' | 'clock' | 'config'>,
  input: { challengeId: string; response: AssertionAnswer },
  context: ClientContext,
): Promise<IssuedTokens> {
  const challenge = await takeChallenge(deps, input.challengeId, 'login')
  const outcome = await verifyAssertion(deps, challenge, input.response, { requireUserVerification: true })
  const failed = (reason: string, userId: string | null) =>
    deps.events.record({ type: 'login_failed', userId, ...context, detail: { method: 'passkey', reason } })
  if (!outcome.ok) {
    failed(outcome.reason, outcome.userId)
    throw new TesseraError('PASSKEY_INVALID')
  }
  const { passkey, methods } = outcome.use
  const user = await deps.stores.users.findById(passkey.userId)
  if (!user) throw new TesseraError('PASSKEY_INVALID')
  // only the holder of the passkey learns the account is disabled
  if (user.disabledAt !== null) {
    failed('account_disabled', user.id)
    throw new TesseraError('ACCOUNT_DISABLED')
  }
  if (deps.config.requireEmailVerification && !user.emailVerified) {
    failed('email_not_verified', user.id)
    throw new TesseraError('EMAIL_NOT_VERIFIED')
  }
  return openSignedInSession(deps, user, signedInWith(methods, deps.clock.now()), context, {
    method: 'passkey',
    passkeyId: passkey.id,
  })
}
