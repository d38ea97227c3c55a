import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { TesseraError } from '../../errors.js'
import type { MfaTokenPurpose, MfaTokenRecord } from '../../store/mfa-tokens.js'
import type { UserRecord } from '../../store/records.js'
import type { Stores } from '../../store/stores.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { countFailedAttempt } from '../failed-attempt.js'
import { accessTokenFor, type IssuedTokens, openSession } from '../issued-tokens.js'
import { type Factor, signedInWith } from '../sign-in-methods.js'
import {
  type MfaMethod,
  oneProof,
  type SecondFactorProof,
  type SpentFactor,
  secondFactorsOf,
  spendSecondFactor,
} from './second-factor.js'

/** Seconds an mfaToken lives. */
export const MFA_TOKEN_TTL = 300
/** Wrong codes after which an mfaToken is dead: the user signs in again (and the lockout counts them). */
export const MFA_TOKEN_MAX_FAILURES = 5

/** What login answers instead of tokens when the account has a second factor. */
export interface MfaChallenge {
  mfaToken: string
  /** The user's factors: `totp` and `recovery_code` with TOTP on, `passkey` with a passkey. */
  methods: MfaMethod[]
}

/** Seconds an enrolment token lives: time to install an authenticator app and scan the code. */
export const ENROLMENT_TOKEN_TTL = 900

/** What login answers instead of tokens when the user's role requires a factor they have not set up. */
export interface EnrolmentChallenge {
  enrollmentToken: string
}

const hashMfaToken = (token: string): Uint8Array =>
  new Uint8Array(createHash('sha256').update(token).digest())
/** The shape of an mfaToken or enrolment token: 256 bits, base64url (an access token has dots). */
export const MFA_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

/**
 * Issues a short-lived token of `purpose` after a first factor, inside the caller's transaction:
 * 256 random bits, only its SHA-256 stored.
 */
async function issueToken(
  tx: Stores,
  deps: Pick<FlowDeps, 'clock'>,
  user: UserRecord,
  purpose: MfaTokenPurpose,
  firstFactor: Factor,
  ttlSeconds: number,
): Promise<string> {
  const now = deps.clock.now()
  const token = randomBytes(32).toString('base64url')
  await tx.mfaTokens.insert({
    id: randomUUID(),
    userId: user.id,
    hash: hashMfaToken(token),
    purpose,
    firstFactor,
    createdAt: now,
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
  })
  return token
}

/** The live token of `purpose` that `token` is, or undefined (malformed, unknown, spent, expired, dead). */
export async function findLiveMfaToken(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  token: string,
  purpose: MfaTokenPurpose,
): Promise<MfaTokenRecord | undefined> {
  if (!MFA_TOKEN_PATTERN.test(token)) return undefined
  return deps.stores.mfaTokens.findLive(
    hashMfaToken(token),
    purpose,
    deps.clock.now(),
    MFA_TOKEN_MAX_FAILURES,
  )
}

/**
 * Issues the mfaToken of a sign-in whose first factor passed, inside the caller's transaction,
 * good for {@link MFA_TOKEN_TTL} seconds at POST /auth/mfa/verify.
 */
export async function issueMfaChallenge(
  tx: Stores,
  deps: Pick<FlowDeps, 'clock'>,
  user: UserRecord,
  firstFactor: Factor,
): Promise<MfaChallenge> {
  const mfaToken = await issueToken(tx, deps, user, 'sign_in', firstFactor, MFA_TOKEN_TTL)
  return { mfaToken, methods: await secondFactorsOf({ stores: tx }, user.id) }
}

/** The live pending sign-in of an mfaToken, else MFA_TOKEN_INVALID. */
export async function pendingSignIn(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  mfaToken: string,
): Promise<MfaTokenRecord> {
  const token = await findLiveMfaToken(deps, mfaToken, 'sign_in')
  if (!token) throw new TesseraError('MFA_TOKEN_INVALID')
  return token
}

/**
 * Issues the enrolment token of a sign-in whose first factor passed for a user who must have a
 * second factor and has none (TESSERA_MFA_REQUIRED_ROLES): it serves only the enrolment routes,
 * for {@link ENROLMENT_TOKEN_TTL} seconds, and the first confirmed factor spends it for a session.
 */
export async function issueEnrolmentChallenge(
  tx: Stores,
  deps: Pick<FlowDeps, 'clock'>,
  user: UserRecord,
  firstFactor: Factor,
): Promise<EnrolmentChallenge> {
  return { enrollmentToken: await issueToken(tx, deps, user, 'enrol', firstFactor, ENROLMENT_TOKEN_TTL) }
}

/**
 * Completes a sign-in with its second factor: the mfaToken must be live, the code right and
 * unused, or the passkey one of the user's answering a challenge made for this mfaToken. A wrong
 * code (or passkey) counts against the token (dead after {@link MFA_TOKEN_MAX_FAILURES}) and
 * toward the account's lockout, as a wrong password does. A success spends the token and opens a
 * session whose tokens claim both factors.
 */
export async function verifyMfa(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'totpKeys' | 'events' | 'limits' | 'clock' | 'config'>,
  input: { mfaToken: string } & SecondFactorProof,
  context: ClientContext,
): Promise<IssuedTokens> {
  const method = oneProof(input)
  const token = await pendingSignIn(deps, input.mfaToken)
  const now = deps.clock.now()
  const user = await deps.stores.users.findById(token.userId)
  if (!user) throw new TesseraError('MFA_TOKEN_INVALID')
  if (user.disabledAt !== null) throw new TesseraError('ACCOUNT_DISABLED')

  const attempt = await deps.limits.lockout.begin(user.emailNormalized)
  if (attempt.lockedFor !== undefined) {
    deps.events.record({
      type: 'mfa_failed',
      userId: user.id,
      ...context,
      detail: { reason: 'account_locked' },
    })
    throw new TesseraError('ACCOUNT_LOCKED', { retryAfter: attempt.lockedFor })
  }
  let spent: SpentFactor
  try {
    spent = await spendSecondFactor(deps, user.id, input, { purpose: 'mfa', mfaTokenId: token.id })
  } catch (error) {
    // no verdict on the code (an outage): the attempt does not count
    await attempt.abandoned()
    throw error
  }
  if (!spent.ok) {
    const failures = await deps.stores.mfaTokens.recordFailure(token.id)
    await countFailedAttempt(deps, attempt, user.id, context)
    deps.events.record({
      type: 'mfa_failed',
      userId: user.id,
      ...context,
      detail: { method, failures, reason: spent.reason },
    })
    throw new TesseraError(method === 'passkey' ? 'PASSKEY_INVALID' : 'MFA_CODE_INVALID')
  }
  await attempt.succeeded()

  const auth = signedInWith([token.firstFactor, ...spent.methods], now)
  const opened = await deps.stores.transaction(async (tx) => {
    // single use: of two requests racing with two right codes, one spends the token
    if (!(await tx.mfaTokens.spend(token.id, now, MFA_TOKEN_MAX_FAILURES))) {
      throw new TesseraError('MFA_TOKEN_INVALID')
    }
    return openSession(tx, deps, user, context, auth)
  })
  deps.events.record({
    type: 'login_succeeded',
    userId: user.id,
    sessionId: opened.sessionId,
    ...context,
    detail: { mfa: method },
  })
  return { user, ...opened, ...(await accessTokenFor(deps, user, opened.sessionId, auth)) }
}
