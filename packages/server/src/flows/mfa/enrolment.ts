import type { Config } from '../../config.js'
import { TesseraError } from '../../errors.js'
import type { MfaTokenRecord } from '../../store/mfa-tokens.js'
import type { SessionAuth, UserRecord } from '../../store/records.js'
import type { Stores } from '../../store/stores.js'
import { type Authenticated, authenticate } from '../authenticate.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { accessTokenFor, type IssuedTokens, openSession } from '../issued-tokens.js'
import { signedInWith } from '../sign-in-methods.js'
import { findLiveMfaToken, MFA_TOKEN_MAX_FAILURES, MFA_TOKEN_PATTERN } from './mfa-sign-in.js'
import { requireRecentSignIn } from './recent-sign-in.js'
import { hasSecondFactor } from './second-factor.js'

/** Whether the user holds a role of TESSERA_MFA_REQUIRED_ROLES: then no session without a second factor. */
export const mustEnrol = (
  config: Pick<Config, 'mfaRequiredRoles'>,
  user: Pick<UserRecord, 'roles'>,
): boolean => user.roles.some((role) => config.mfaRequiredRoles.includes(role))

/**
 * Who calls an enrolment route: a signed-in user (an access token), or a user on their way in
 * whose login answered `mfa_enrollment_required` (its enrolment token).
 */
export type Enroller =
  | { kind: 'session'; user: UserRecord; authenticated: Authenticated }
  | { kind: 'enrolment'; user: UserRecord; token: MfaTokenRecord }

/**
 * The caller of an enrolment route from its bearer token: an access token as on every Bearer
 * route, or an enrolment token (256 bits in base64url, where an access token has dots).
 */
export async function authenticateEnroller(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'clock' | 'config'>,
  bearer: string,
): Promise<Enroller> {
  if (!MFA_TOKEN_PATTERN.test(bearer)) {
    const authenticated = await authenticate(deps, bearer)
    return { kind: 'session', user: authenticated.user, authenticated }
  }
  const token = await findLiveMfaToken(deps, bearer, 'enrol')
  if (!token) {
    throw new TesseraError('MFA_TOKEN_INVALID', {
      detail: 'This enrolment token is expired, spent or unknown: sign in again.',
    })
  }
  const user = await deps.stores.users.findById(token.userId)
  if (!user) throw new TesseraError('MFA_TOKEN_INVALID')
  if (user.disabledAt !== null) throw new TesseraError('ACCOUNT_DISABLED')
  // a factor added since (by this token or otherwise) ends the enrolment: sign in with it
  if (await hasSecondFactor(deps, user.id)) {
    throw new TesseraError('MFA_TOKEN_INVALID', {
      detail: 'A second factor is set up already: sign in again with it.',
    })
  }
  return { kind: 'enrolment', user, token }
}

/**
 * What enrolling a factor needs: a verified email (a stolen token or a pre-registered unverified
 * account must not gain a permanent way in), and a recent sign-in, which an enrolment token is
 * by itself (a first factor at most 15 minutes ago, good for nothing else).
 */
export function requireEnrolmentAllowed(enroller: Enroller, now: Date): void {
  if (!enroller.user.emailVerified) {
    throw new TesseraError('EMAIL_NOT_VERIFIED', {
      detail: 'Verify your email address before adding a second factor.',
    })
  }
  if (enroller.kind === 'session') requireRecentSignIn(enroller.authenticated.claims, now)
}

/** The session id an audit event of the enroller names: none yet for a user enrolling on the way in. */
export const sessionIdOf = (enroller: Enroller): string | undefined =>
  enroller.kind === 'session' ? enroller.authenticated.session.id : undefined

/** Counts a wrong code against an enrolment token (dead after 5, like an mfaToken). */
export async function recordEnrolmentFailure(
  deps: Pick<FlowDeps, 'stores'>,
  enroller: Enroller,
): Promise<void> {
  if (enroller.kind === 'enrolment') await deps.stores.mfaTokens.recordFailure(enroller.token.id)
}

/** The session {@link finishEnrolment} opened, with how its user signed in. */
export interface EnrolledSession {
  sessionId: string
  refreshToken: string
  refreshExpiresAt: Date
  auth: SessionAuth
}

/**
 * Inside the transaction that confirmed a new factor: every pending sign-in and enrolment of the
 * user is void from now (one begun with a stolen password must not enrol a factor of its own after
 * the owner did). For a user enrolling on the way in it first spends their enrolment token (once:
 * of two confirms racing, one wins) and opens the session, whose tokens claim the first factor and
 * the new one's `methods` (amr values).
 */
export async function finishEnrolment(
  tx: Stores,
  deps: Pick<FlowDeps, 'clock' | 'config'>,
  enroller: Enroller,
  methods: readonly string[],
  context: ClientContext,
): Promise<EnrolledSession | undefined> {
  const now = deps.clock.now()
  if (enroller.kind !== 'enrolment') {
    await tx.mfaTokens.voidForUser(enroller.user.id, now)
    return undefined
  }
  if (!(await tx.mfaTokens.spend(enroller.token.id, now, MFA_TOKEN_MAX_FAILURES))) {
    throw new TesseraError('MFA_TOKEN_INVALID')
  }
  await tx.mfaTokens.voidForUser(enroller.user.id, now)
  const auth = signedInWith([enroller.token.firstFactor, ...methods], now)
  return { ...(await openSession(tx, deps, enroller.user, context, auth)), auth }
}

/** The token response of a session {@link finishEnrolment} opened. */
export async function enrolledTokens(
  deps: Pick<FlowDeps, 'keyRing' | 'clock' | 'config'>,
  user: UserRecord,
  { auth, ...opened }: EnrolledSession,
): Promise<IssuedTokens> {
  return { user, ...opened, ...(await accessTokenFor(deps, user, opened.sessionId, auth)) }
}
