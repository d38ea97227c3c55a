import { randomUUID } from 'node:crypto'
import type {
  AuthenticationResponseJSON,
  AuthenticatorAttachment,
  AuthenticatorTransportFuture,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server'
import { TesseraError } from '../../errors.js'
import type { PasskeyRecord, WebauthnChallengeRecord, WebauthnPurpose } from '../../store/records.js'
import type { FlowDeps } from '../deps.js'
import { USER_VERIFIED } from '../sign-in-methods.js'
import { webauthn } from './webauthn.js'

/** Seconds a WebAuthn challenge lives (and the browser's timeout for its ceremony). */
export const CHALLENGE_TTL = 300

/** What a ceremony's answer is: its challenge's id, and the options for `navigator.credentials`. */
export interface Ceremony<Options> {
  challengeId: string
  options: Options
}

/** What a challenge is bound to: the user of a registration or step-up, the mfaToken of a second factor. */
export interface ChallengeBinding {
  userId?: string | undefined
  mfaTokenId?: string | undefined
}

/**
 * The WebAuthn user handle of a user: the UTF-8 bytes of the user id, which is no personal data and
 * never changes, so every passkey of a user carries the same handle. A discoverable login answers
 * it, and it must name the passkey's owner.
 */
export const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(userId)

/** A credential as the browser's `toJSON()` gives it; the fields WebAuthn adds later pass through unread. */
interface CredentialAnswer {
  id: string
  rawId: string
  type: 'public-key'
  authenticatorAttachment?: string | null | undefined
}

/** `RegistrationResponseJSON`, as a request carries it. */
export interface RegistrationAnswer extends CredentialAnswer {
  response: {
    clientDataJSON: string
    attestationObject: string
    transports?: string[] | undefined
  }
}

/** `AuthenticationResponseJSON`, as a request carries it. */
export interface AssertionAnswer extends CredentialAnswer {
  response: {
    clientDataJSON: string
    authenticatorData: string
    signature: string
    userHandle?: string | null | undefined
  }
}

const ATTACHMENTS: readonly AuthenticatorAttachment[] = ['platform', 'cross-platform']
const attachmentOf = (answer: CredentialAnswer) =>
  ATTACHMENTS.find((attachment) => attachment === answer.authenticatorAttachment)

/** The library's shape of a registration answer; unknown transports and attachments are left out. */
export function asRegistrationResponse(answer: RegistrationAnswer): RegistrationResponseJSON {
  const authenticatorAttachment = attachmentOf(answer)
  return {
    id: answer.id,
    rawId: answer.rawId,
    type: answer.type,
    response: {
      clientDataJSON: answer.response.clientDataJSON,
      attestationObject: answer.response.attestationObject,
      transports: knownTransports(answer.response.transports),
    },
    // no extension is asked for, so none is read
    clientExtensionResults: {},
    ...(authenticatorAttachment ? { authenticatorAttachment } : {}),
  }
}

/** The library's shape of an assertion. */
export function asAuthenticationResponse(answer: AssertionAnswer): AuthenticationResponseJSON {
  const authenticatorAttachment = attachmentOf(answer)
  const { clientDataJSON, authenticatorData, signature, userHandle } = answer.response
  return {
    id: answer.id,
    rawId: answer.rawId,
    type: answer.type,
    response: { clientDataJSON, authenticatorData, signature, ...(userHandle ? { userHandle } : {}) },
    clientExtensionResults: {},
    ...(authenticatorAttachment ? { authenticatorAttachment } : {}),
  }
}

const TRANSPORTS: readonly AuthenticatorTransportFuture[] = [
  'ble',
  'cable',
  'hybrid',
  'internal',
  'nfc',
  'smart-card',
  'usb',
]

/** The transports of a passkey that WebAuthn knows; anything else a client sent is dropped. */
export const knownTransports = (transports: readonly string[] | undefined): AuthenticatorTransportFuture[] =>
  (transports ?? []).filter((value): value is AuthenticatorTransportFuture =>
    (TRANSPORTS as readonly string[]).includes(value),
  )

/** A passkey as `allowCredentials` / `excludeCredentials` name it. */
export const descriptorOf = (passkey: PasskeyRecord) => ({
  id: passkey.credentialId,
  transports: knownTransports(passkey.transports),
})

/** Keeps the challenge of new options, for {@link CHALLENGE_TTL} seconds; answers its id. */
export async function keepChallenge(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  purpose: WebauthnPurpose,
  challenge: string,
  binding: ChallengeBinding = {},
): Promise<string> {
  const now = deps.clock.now()
  const id = randomUUID()
  await deps.stores.webauthnChallenges.insert({
    id,
    challenge,
    purpose,
    userId: binding.userId ?? null,
    mfaTokenId: binding.mfaTokenId ?? null,
    createdAt: now,
    expiresAt: new Date(now.getTime() + CHALLENGE_TTL * 1000),
  })
  return id
}

/**
 * Spends the challenge `challengeId` for `purpose`, once, whatever the verification that follows
 * says: a challenge answers one ceremony. CHALLENGE_INVALID when it is unknown, used, expired, of
 * another purpose, or bound to another user or sign-in.
 */
export async function takeChallenge(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  challengeId: string,
  purpose: WebauthnPurpose,
  binding: ChallengeBinding = {},
): Promise<WebauthnChallengeRecord> {
  const challenge = await deps.stores.webauthnChallenges.take(challengeId, purpose, deps.clock.now())
  if (
    !challenge ||
    (binding.userId !== undefined && challenge.userId !== binding.userId) ||
    (binding.mfaTokenId !== undefined && challenge.mfaTokenId !== binding.mfaTokenId)
  ) {
    throw new TesseraError('CHALLENGE_INVALID')
  }
  return challenge
}

/** Options for `navigator.credentials.get`, with their challenge kept for `purpose`. */
export async function assertionCeremony(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  purpose: WebauthnPurpose,
  passkeys: readonly PasskeyRecord[],
  binding: ChallengeBinding,
): Promise<Ceremony<PublicKeyCredentialRequestOptionsJSON>> {
  const { generateAuthenticationOptions } = await webauthn()
  const options = await generateAuthenticationOptions({
    rpID: deps.config.webauthnRpId,
    // none for a passkey login: the browser offers the discoverable credentials it holds
    ...(passkeys.length > 0 ? { allowCredentials: passkeys.map(descriptorOf) } : {}),
    // a passkey alone signs in only when it verified its user; as a second factor, presence will do
    userVerification: purpose === 'login' ? 'required' : 'preferred',
    timeout: CHALLENGE_TTL * 1000,
  })
  const challengeId = await keepChallenge(deps, purpose, options.challenge, binding)
  return { challengeId, options }
}

/** A passkey that answered its challenge: its RFC 8176 methods for the session's `amr`. */
export interface PasskeyUse {
  passkey: PasskeyRecord
  /** `hwk` or `swk`, and `user` when the authenticator verified the user. */
  methods: string[]
}

/** Why an assertion was refused, for the audit log. */
export type AssertionFailure =
  | 'unknown_passkey'
  | 'other_users_passkey'
  | 'user_handle_mismatch'
  | 'counter_regression'
  | 'verification_failed'

export type AssertionOutcome =
  | { ok: true; use: PasskeyUse }
  | { ok: false; reason: AssertionFailure; userId: string | null }

/** The signature counter of an assertion's authenticator data (bytes 33–36), if it has one. */
function counterOf(response: AuthenticationResponseJSON): number | undefined {
  const data = Buffer.from(response.response.authenticatorData, 'base64url')
  return data.length >= 37 ? data.readUInt32BE(33) : undefined
}

/**
 * Verifies a `navigator.credentials.get` answer to `challenge`: the passkey it names must exist (and
 * belong to `userId`, when given), its signature, origin, RP id and flags must check out, and its
 * counter must move forward. On success the counter and backup state are stored with the time of
 * use. Never throws for a bad answer: the caller decides what a failure counts as.
 */
export async function verifyAssertion(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  challenge: WebauthnChallengeRecord,
  answer: AssertionAnswer,
  expect: { userId?: string | undefined; requireUserVerification: boolean },
): Promise<AssertionOutcome> {
  const response = asAuthenticationResponse(answer)
  const expectedUser = expect.userId ?? null
  const passkey = await deps.stores.passkeys.findByCredentialId(response.id)
  if (!passkey) return { ok: false, reason: 'unknown_passkey', userId: expectedUser }
  if (expect.userId !== undefined && passkey.userId !== expect.userId) {
    return { ok: false, reason: 'other_users_passkey', userId: expectedUser }
  }
  const fail = (reason: AssertionFailure): AssertionOutcome => ({ ok: false, reason, userId: passkey.userId })
  const handle = response.response.userHandle
  if (handle !== undefined && handle !== Buffer.from(userHandleOf(passkey.userId)).toString('base64url')) {
    return fail('user_handle_mismatch')
  }
  const { verifyAuthenticationResponse } = await webauthn()
  let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>
  try {
    verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge.challenge,
      expectedOrigin: [...deps.config.webauthnOrigins],
      expectedRPID: deps.config.webauthnRpId,
      credential: {
        id: passkey.credentialId,
        publicKey: passkey.publicKey,
        counter: passkey.counter,
        transports: knownTransports(passkey.transports),
      },
      requireUserVerification: expect.requireUserVerification,
    })
  } catch {
    // the library throws for every malformed or mismatched answer; none of it is our fault
    const counter = counterOf(response)
    const regressed =
      counter !== undefined && (counter > 0 || passkey.counter > 0) && counter <= passkey.counter
    return fail(regressed ? 'counter_regression' : 'verification_failed')
  }
  if (!verified.verified) return fail('verification_failed')
  const info = verified.authenticationInfo
  const used = await deps.stores.passkeys.recordUse(passkey.id, {
    counter: info.newCounter,
    backedUp: info.credentialBackedUp,
    at: deps.clock.now(),
  })
  // another assertion with this counter value got there first: one of them is a replay or a clone
  if (!used) return fail('counter_regression')
  return {
    ok: true,
    use: {
      passkey,
      methods: [
        passkey.deviceType === 'multiDevice' ? 'swk' : 'hwk',
        ...(info.userVerified ? [USER_VERIFIED] : []),
      ],
    },
  }
}
