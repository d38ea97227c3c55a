import { randomUUID } from 'node:crypto'
import type {
  PublicKeyCredentialCreationOptionsJSON,
  verifyRegistrationResponse,
} from '@simplewebauthn/server'
import { TesseraError } from '../../errors.js'
import { PRODUCT_NAME, passkeyAddedMail } from '../../mail/templates.js'
import { webhookUser } from '../../store/webhooks.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import type { IssuedTokens } from '../issued-tokens.js'
import {
  type Enroller,
  enrolledTokens,
  finishEnrolment,
  requireEnrolmentAllowed,
  sessionIdOf,
} from '../mfa/enrolment.js'
import { USER_VERIFIED } from '../sign-in-methods.js'
import {
  asRegistrationResponse,
  type Ceremony,
  CHALLENGE_TTL,
  descriptorOf,
  keepChallenge,
  knownTransports,
  type RegistrationAnswer,
  takeChallenge,
  userHandleOf,
} from './relying-party.js'
import { webauthn } from './webauthn.js'

/** COSE algorithms a new passkey may use: EdDSA, ES256, RS256 (what authenticators make). */
const ALGORITHMS = [-8, -7, -257]

/** The longest passkey name kept. */
export const PASSKEY_NAME_MAX = 100

/** A passkey as its owner sees it. */
export interface PasskeySummary {
  id: string
  name: string
  createdAt: Date
}

/**
 * Starts registering a passkey: options for `navigator.credentials.create` asking for a
 * discoverable credential that verifies its user (so it can sign in alone), none of the user's
 * passkeys again. Needs a verified email and a recent sign-in (or an enrolment token).
 */
export async function passkeyRegistrationOptions(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  enroller: Enroller,
): Promise<Ceremony<PublicKeyCredentialCreationOptionsJSON>> {
  requireEnrolmentAllowed(enroller, deps.clock.now())
  const { user } = enroller
  const existing = await deps.stores.passkeys.listForUser(user.id)
  const { generateRegistrationOptions } = await webauthn()
  const options = await generateRegistrationOptions({
    rpName: PRODUCT_NAME,
    rpID: deps.config.webauthnRpId,
    userID: userHandleOf(user.id),
    userName: user.email,
    userDisplayName: user.name ?? user.email,
    timeout: CHALLENGE_TTL * 1000,
    attestationType: 'none',
    excludeCredentials: existing.map(descriptorOf),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    supportedAlgorithmIDs: ALGORITHMS,
  })
  const challengeId = await keepChallenge(deps, 'register', options.challenge, {
    userId: user.id,
  })
  return { challengeId, options }
}

/**
 * Finishes a registration: the authenticator's answer must be to this user's challenge, from an
 * allowed origin, for the relying party, with the user verified. The passkey is stored under
 * `name` (or "Passkey N") and the user is mailed. PASSKEY_EXISTS when the credential is known. A
 * user enrolling on the way in (an enrolment token) is signed in by the same transaction.
 */
export async function registerPasskey(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config' | 'mailer' | 'events' | 'keyRing'>,
  enroller: Enroller,
  input: { challengeId: string; response: RegistrationAnswer; name?: string | undefined },
  context: ClientContext,
): Promise<{ passkey: PasskeySummary; tokens?: IssuedTokens }> {
  requireEnrolmentAllowed(enroller, deps.clock.now())
  const { user } = enroller
  const challenge = await takeChallenge(deps, input.challengeId, 'register', { userId: user.id })
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>
  try {
    verified = await (await webauthn()).verifyRegistrationResponse({
      response: asRegistrationResponse(input.response),
      expectedChallenge: challenge.challenge,
      expectedOrigin: [...deps.config.webauthnOrigins],
      expectedRPID: deps.config.webauthnRpId,
      requireUserVerification: true,
      supportedAlgorithmIDs: ALGORITHMS,
    })
  } catch (error) {
    // the library throws for every malformed or mismatched answer: the client's, never a 500
    throw new TesseraError('ATTESTATION_INVALID', { cause: error })
  }
  if (!verified.verified) throw new TesseraError('ATTESTATION_INVALID')
  const info = verified.registrationInfo
  const now = deps.clock.now()
  const given = input.name?.trim().slice(0, PASSKEY_NAME_MAX)
  // the amr of a session this registration opens: the passkey's kind, verified by its user
  const methods = [info.credentialDeviceType === 'multiDevice' ? 'swk' : 'hwk', USER_VERIFIED]
  const { summary, enrolled } = await deps.stores.transaction(async (tx) => {
    const name = given || `Passkey ${(await tx.passkeys.countForUser(user.id)) + 1}`
    const id = randomUUID()
    const inserted = await tx.passkeys.insert({
      id,
      userId: user.id,
      credentialId: info.credential.id,
      publicKey: info.credential.publicKey,
      counter: info.credential.counter,
      transports: knownTransports(input.response.response.transports),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name,
      createdAt: now,
    })
    if (!inserted) throw new TesseraError('PASSKEY_EXISTS')
    await tx.webhooks.enqueue({
      type: 'mfa.enabled',
      data: { user: webhookUser(user), method: 'passkey', passkeyId: id },
    })
    const enrolled = await finishEnrolment(tx, deps, enroller, methods, context)
    return { summary: { id, name, createdAt: now }, enrolled }
  })
  deps.mailer.send(passkeyAddedMail({ to: user.email, name: summary.name }))
  deps.events.record({
    type: 'mfa_enrolled',
    userId: user.id,
    sessionId: enrolled?.sessionId ?? sessionIdOf(enroller),
    ...context,
    detail: {
      method: 'passkey',
      passkeyId: summary.id,
      backupEligible: info.credentialDeviceType === 'multiDevice',
    },
  })
  if (!enrolled) return { passkey: summary }
  deps.events.record({
    type: 'login_succeeded',
    userId: user.id,
    sessionId: enrolled.sessionId,
    ...context,
    detail: { mfa: 'enrolled', method: 'passkey' },
  })
  return { passkey: summary, tokens: await enrolledTokens(deps, user, enrolled) }
}
