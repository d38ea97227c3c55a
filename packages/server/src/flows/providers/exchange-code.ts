import * as oidc from 'openid-client'
import { TesseraError } from '../../errors.js'
import type { ClientContext } from '../deps.js'
import type { LoginOutcome } from '../login.js'
import { hashOneTimeToken, isWellFormedOneTimeToken } from '../one-time-token.js'
import { secondStepAfter, secondStepOutcome } from '../second-step.js'
import { AMR_PROVIDER } from '../sign-in-methods.js'
import { type ProviderSignInDeps, signIn } from './provider-sign-in.js'

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

/**
 * Exchanges the one-time code of a provider sign-in for a session (or `mfa_required`, or
 * `mfa_enrollment_required`, as login answers): once, within its 60 seconds, and only with the
 * verifier of the challenge given at the start, so a code that reached someone else signs in nobody.
 * A wrong verifier leaves the code alone; every refusal is the same ONE_TIME_TOKEN_INVALID.
 */
export async function exchangeProviderCode(
  deps: Omit<ProviderSignInDeps, 'providers'>,
  input: { code: string; codeVerifier: string },
  context: ClientContext,
): Promise<LoginOutcome> {
  if (!isWellFormedOneTimeToken(input.code) || !VERIFIER.test(input.codeVerifier)) {
    throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  }
  const challenge = await oidc.calculatePKCECodeChallenge(input.codeVerifier)
  const now = deps.clock.now()
  const outcome = await deps.stores.transaction(async (tx) => {
    const used = await tx.oneTimeTokens.consume(hashOneTimeToken(input.code), 'oauth_code', now, challenge)
    if (!used) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    const user = await tx.users.findById(used.userId)
    if (!user || user.email !== used.email) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    if (user.disabledAt !== null) throw new TesseraError('ACCOUNT_DISABLED')
    const step = await secondStepAfter(tx, deps, user, AMR_PROVIDER)
    if (step) return { kind: 'second-step' as const, user, step }
    return { kind: 'signed-in' as const, user }
  })
  const { user } = outcome
  if (outcome.kind === 'second-step') {
    return secondStepOutcome(deps, user.id, outcome.step, AMR_PROVIDER, context)
  }
  return { kind: 'signed-in', tokens: await signIn(deps, user, context, null) }
}
