import { randomUUID } from 'node:crypto'
import * as oidc from 'openid-client'
import { TesseraError } from '../../errors.js'
import type { IdentityRecord } from '../../store/identities.js'
import type { Authenticated } from '../authenticate.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { requireRecentSignIn } from '../mfa/recent-sign-in.js'
import { hashOneTimeToken, isWellFormedOneTimeToken } from '../one-time-token.js'
import type { PendingLink } from './provider-sign-in.js'

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

/** Linking needs a recent sign-in, as other changes to how the account signs in do. */
export const requireLinkable = (deps: Pick<FlowDeps, 'clock'>, auth: Pick<Authenticated, 'claims'>): void =>
  requireRecentSignIn(auth.claims, deps.clock.now())

/**
 * Links the identity a link code carries to the signed-in user who started the link: once, within
 * 60 seconds, with the verifier of the app's challenge, and only for that user.
 */
export async function completeLink(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'events'>,
  { user, session }: Pick<Authenticated, 'user' | 'session'>,
  input: { code: string; codeVerifier: string },
  context: ClientContext,
): Promise<IdentityRecord> {
  if (!isWellFormedOneTimeToken(input.code) || !VERIFIER.test(input.codeVerifier)) {
    throw new TesseraError('ONE_TIME_TOKEN_INVALID')
  }
  const challenge = await oidc.calculatePKCECodeChallenge(input.codeVerifier)
  const now = deps.clock.now()
  const identity = await deps.stores.transaction(async (tx) => {
    const used = await tx.oneTimeTokens.consume(hashOneTimeToken(input.code), 'oauth_link', now, challenge)
    if (!used || used.userId !== user.id) throw new TesseraError('ONE_TIME_TOKEN_INVALID')
    const pending = used.payload as PendingLink
    const key = { provider: pending.provider, issuer: pending.issuer, subject: pending.subject }
    const existing = await tx.identities.find(key)
    if (existing) {
      if (existing.userId !== user.id) throw new TesseraError('ACCOUNT_EXISTS')
      return existing
    }
    const linked = await tx.identities.link({
      id: randomUUID(),
      userId: user.id,
      ...key,
      email: pending.email,
      emailVerified: pending.emailVerified,
      linkedAt: now,
    })
    if (linked === 'taken') throw new TesseraError('ACCOUNT_EXISTS')
    return linked
  })
  deps.events.record({
    type: 'identity_linked',
    userId: user.id,
    sessionId: session.id,
    ...context,
    detail: { provider: identity.provider, via: 'link' },
  })
  return identity
}
