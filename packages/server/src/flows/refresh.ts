import { randomUUID } from 'node:crypto'
import { TesseraError } from '../errors.js'
import type { SessionAuth, UserRecord } from '../store/records.js'
import { isLive } from '../store/sessions.js'
import {
  hashRefreshToken,
  isWellFormedRefreshToken,
  newSuccessor,
  unsealSuccessor,
} from '../tokens/refresh-token.js'
import { type ClientContext, type FlowDeps, NO_CLIENT } from './deps.js'
import { accessTokenFor, type IssuedTokens } from './issued-tokens.js'

type Decision =
  | {
      kind: 'rotated' | 'repeat'
      user: UserRecord
      sessionId: string
      successor: string
      expiresAt: Date
      auth: SessionAuth
    }
  | { kind: 'reused'; userId: string; sessionId: string }

/**
 * Exchanges a refresh token for a new one and a new access token. The presented token is spent.
 * - A repeat inside the reuse grace window (parallel tabs racing) gets the same successor back,
 *   while that successor is unspent.
 * - A repeat after it, or once the chain has moved past the successor, is treated as theft: the
 *   whole session is revoked.
 * The token row is locked for the decision, so parallel refreshes of one token yield one successor.
 */
export async function refresh(
  deps: Pick<FlowDeps, 'stores' | 'keyRing' | 'events' | 'clock' | 'config'>,
  presented: string,
  context: ClientContext = NO_CLIENT,
): Promise<IssuedTokens> {
  if (!isWellFormedRefreshToken(presented)) throw new TesseraError('REFRESH_TOKEN_INVALID')
  const hash = hashRefreshToken(presented)
  const decision = (await rotateUnused(deps, presented, hash)) ?? (await decide(deps, presented, hash))

  // thrown after the transaction, so the revocation commits
  if (decision.kind === 'reused') {
    // a stolen token, or a client that lost a race it should not have: either way worth a look
    deps.events.record({
      type: 'refresh_reuse_detected',
      userId: decision.userId,
      sessionId: decision.sessionId,
      ...context,
    })
    throw new TesseraError('REFRESH_TOKEN_REUSED')
  }
  deps.events.record({
    type: 'refresh',
    userId: decision.user.id,
    sessionId: decision.sessionId,
    ...context,
    detail: { repeat: decision.kind === 'repeat' },
  })
  const refreshToken = decision.successor
  return {
    user: decision.user,
    sessionId: decision.sessionId,
    refreshToken,
    refreshExpiresAt: decision.expiresAt,
    // the sign-in's amr, acr and auth_time carry over: a refresh is no new sign-in
    ...(await accessTokenFor(deps, decision.user, decision.sessionId, decision.auth)),
  }
}

/**
 * The common case, one statement: an unused token of a live session is spent and succeeded.
 * Undefined when it is anything else, for `decide` to sort out.
 */
async function rotateUnused(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  presented: string,
  hash: Uint8Array,
): Promise<Decision | undefined> {
  const now = deps.clock.now()
  const { successor, sealed } = newSuccessor(presented)
  const rotated = await deps.stores.refreshTokens.rotate({
    hash,
    successor: { id: randomUUID(), hash: hashRefreshToken(successor), sealed },
    at: now,
    idleExpiresAt: new Date(now.getTime() + deps.config.refreshIdleTtl * 1000),
  })
  if (!rotated) return undefined
  const { user, sessionId, idleExpiresAt, auth } = rotated
  return { kind: 'rotated', user, sessionId, successor, expiresAt: idleExpiresAt, auth }
}

/**
 * Every other case, decided with the token row locked: unknown or dead (invalid), a repeat within
 * the grace window (the same successor again), a repeat after it (theft: the session is revoked),
 * or an unused token after all (a race with the statement above: rotated here).
 */
function decide(
  deps: Pick<FlowDeps, 'stores' | 'clock' | 'config'>,
  presented: string,
  hash: Uint8Array,
): Promise<Decision> {
  return deps.stores.transaction(async (tx): Promise<Decision> => {
    const now = deps.clock.now()
    const found = await tx.refreshTokens.findForUpdate(hash)
    if (!found) throw new TesseraError('REFRESH_TOKEN_INVALID')
    const { token, session, user } = found
    if (!isLive(session, user, now)) throw new TesseraError('REFRESH_TOKEN_INVALID')

    if (token.usedAt !== null) {
      const sinceUse = now.getTime() - token.usedAt.getTime()
      if (sinceUse <= deps.config.refreshReuseGrace * 1000 && token.successorSealed !== null) {
        // the same successor again, but only while nobody has spent it: once the chain has moved
        // on, a quick thief replaying the parent must not join the session
        const successor = await unsealSuccessor(presented, token.successorSealed)
        if (await tx.refreshTokens.isUnspent(hashRefreshToken(successor))) {
          return {
            kind: 'repeat',
            user,
            sessionId: session.id,
            successor,
            expiresAt: session.idleExpiresAt,
            auth: session,
          }
        }
      }
      await tx.sessions.revoke(session.id, undefined, now, 'refresh_token_reused')
      return { kind: 'reused', userId: user.id, sessionId: session.id }
    }

    // unused after all: it raced the statement of `rotateUnused`; rotated here, under the lock
    const rotated = await rotateUnused({ ...deps, stores: tx }, presented, hash)
    if (!rotated) throw new TesseraError('REFRESH_TOKEN_INVALID')
    return rotated
  })
}
