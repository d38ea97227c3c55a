import type { UserRecord } from '../store/records.js'
import type { Stores } from '../store/stores.js'
import type { ClientContext, FlowDeps } from './deps.js'
import type { LoginOutcome } from './login.js'
import { mustEnrol } from './mfa/enrolment.js'
import {
  type EnrolmentChallenge,
  issueEnrolmentChallenge,
  issueMfaChallenge,
  type MfaChallenge,
} from './mfa/mfa-sign-in.js'
import { hasSecondFactor } from './mfa/second-factor.js'
import type { Factor } from './sign-in-methods.js'

/** What a sign-in asks for after its first factor passed, instead of a session. */
export type SecondStep =
  | { kind: 'mfa-required'; challenge: MfaChallenge }
  | { kind: 'enrolment-required'; challenge: EnrolmentChallenge }

/**
 * Inside the sign-in's transaction, once `firstFactor` passed (a password, a magic link, a
 * provider): an mfaToken for a user with a second factor, an enrolment token for one whose role
 * requires a factor they do not have (TESSERA_MFA_REQUIRED_ROLES), else undefined: the caller
 * opens the session.
 */
export async function secondStepAfter(
  tx: Stores,
  deps: Pick<FlowDeps, 'clock' | 'config'>,
  user: UserRecord,
  firstFactor: Factor,
): Promise<SecondStep | undefined> {
  if (await hasSecondFactor({ stores: tx }, user.id)) {
    return { kind: 'mfa-required', challenge: await issueMfaChallenge(tx, deps, user, firstFactor) }
  }
  if (mustEnrol(deps.config, user)) {
    return {
      kind: 'enrolment-required',
      challenge: await issueEnrolmentChallenge(tx, deps, user, firstFactor),
    }
  }
  return undefined
}

/** What the sign-in answers for its second step, recorded as `mfa_challenged` or `mfa_enrolment_required`. */
export function secondStepOutcome(
  deps: Pick<FlowDeps, 'events'>,
  userId: string,
  step: SecondStep,
  firstFactor: Factor,
  context: ClientContext,
): LoginOutcome {
  const mfa = step.kind === 'mfa-required'
  deps.events.record({
    type: mfa ? 'mfa_challenged' : 'mfa_enrolment_required',
    userId,
    ...context,
    detail: { after: firstFactor },
  })
  return step.kind === 'mfa-required'
    ? { kind: 'mfa-required', userId, ...step.challenge }
    : { kind: 'enrolment-required', userId, ...step.challenge }
}
