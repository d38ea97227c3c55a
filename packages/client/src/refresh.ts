import type { TabChannel } from './cross-tab.js'
import { errorFromResponse, TesseraClientError } from './errors.js'
import { type FetchLike, jsonPost, readJson } from './http.js'
import type { RefreshLock } from './lock.js'
import type { AccessToken, SessionState } from './session-state.js'
import { singleFlight } from './single-flight.js'
import type { RefreshTokenStorage } from './storage.js'
import { asTokenResponse, type TokenDelivery } from './types.js'

/** Milliseconds to wait, once holding the lock, for another tab's refresh outcome to arrive. */
const OTHER_TAB_GRACE = 1000

export interface RefresherDeps {
  fetch: FetchLike
  /** The refresh endpoint: `${baseUrl}/auth/refresh`. */
  url: string
  delivery: TokenDelivery
  /** The refresh token in body mode; unused in cookie mode. */
  storage: RefreshTokenStorage
  lock: RefreshLock
  session: SessionState
  channel: TabChannel | undefined
  /** Local time, milliseconds since the epoch. */
  now: () => number
}

export interface Refresher {
  /**
   * A fresh access token. Every caller while a refresh runs joins it, so one request goes out
   * however many calls need a token. `stale` is the token that proved too old (`null`: none held);
   * if the session already holds another fresh one (another tab refreshed), that one is returned.
   * Rejects with `SESSION_EXPIRED` (signed out), `REFRESH_FAILED` (session kept) or `NOT_SIGNED_IN`.
   */
  refresh(stale: string | null): Promise<string>
  /** Resolves when no refresh is in flight. */
  idle(): Promise<void>
}

const REFUSALS: readonly string[] = ['REFRESH_TOKEN_INVALID', 'REFRESH_TOKEN_REUSED']

export function createRefresher(deps: RefresherDeps): Refresher {
  const { session, channel } = deps
  const flight = singleFlight<string>()

  const ended = () =>
    new TesseraClientError('SESSION_EXPIRED', { detail: 'The session ended while refreshing.', status: 401 })

  async function signOutRefused() {
    const wasSignedIn = session.state === 'signed-in'
    if (deps.delivery === 'body') await deps.storage.delete()
    session.signOut(wasSignedIn ? 'session-expired' : 'no-session')
  }

  /** One POST /auth/refresh and what follows from its answer. */
  async function exchange(presented: string | null, generation: number): Promise<AccessToken> {
    let response: Response
    try {
      const body = presented === null ? {} : { refreshToken: presented }
      response = await deps.fetch(deps.url, jsonPost(body, deps.delivery === 'cookie'))
    } catch (cause) {
      throw new TesseraClientError('REFRESH_FAILED', {
        detail: 'The refresh request did not reach the server.',
        retryable: true,
        cause,
      })
    }
    const receivedAt = deps.now()
    if (!response.ok) {
      const error = await errorFromResponse(response, receivedAt)
      if (response.status === 401 && REFUSALS.includes(error.code)) {
        if (session.generation === generation) await signOutRefused()
        throw new TesseraClientError('SESSION_EXPIRED', {
          status: response.status,
          ...(error.problem ? { problem: error.problem } : {}),
          cause: error.problem ?? error,
        })
      }
      // rate limited, unavailable, a proxy error, or something unexpected: the session may well
      // be fine, so keep it and let the caller try again later
      throw new TesseraClientError('REFRESH_FAILED', {
        status: response.status,
        ...(error.problem ? { problem: error.problem } : { detail: error.detail }),
        retryable: response.status === 429 || response.status >= 500,
        ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
        cause: error,
      })
    }
    const tokens = asTokenResponse(await readJson(response))
    if (!tokens || (deps.delivery === 'body' && tokens.refreshToken === undefined)) {
      throw new TesseraClientError('BAD_RESPONSE', {
        status: response.status,
        detail: 'The refresh answer is not a Tessera token response.',
      })
    }
    // signed out (here or in another tab) while the request ran: drop the new tokens
    if (session.generation !== generation) throw ended()
    if (tokens.refreshToken !== undefined && deps.delivery === 'body')
      await deps.storage.set(tokens.refreshToken)
    return session.accept(tokens, receivedAt)
  }

  /** Runs while holding the lock, so at most one of these runs across tabs. */
  async function refreshLocked(stale: string | null, generation: number): Promise<string> {
    if (channel) await channel.othersSettled(OTHER_TAB_GRACE)
    if (session.generation !== generation) throw ended()
    // while we waited for the lock another tab may have refreshed and shared its token
    const current = session.access
    if (current && current.value !== stale && session.isFresh(current)) return current.value

    let presented: string | null = null
    if (deps.delivery === 'body') {
      presented = await deps.storage.get()
      if (presented === null) {
        const wasSignedIn = session.state === 'signed-in'
        session.signOut(wasSignedIn ? 'session-expired' : 'no-session')
        throw new TesseraClientError(wasSignedIn ? 'SESSION_EXPIRED' : 'NOT_SIGNED_IN', {
          detail: 'No refresh token is stored.',
        })
      }
    }

    channel?.post({ type: 'refreshing' })
    const wasSignedIn = session.state === 'signed-in'
    try {
      const access = await exchange(presented, generation)
      // posted before the lock is released, so a tab waiting for the lock finds the token
      channel?.post({
        type: 'session',
        accessToken: access.value,
        expiresAt: access.expiresAt,
        lifetime: access.lifetime,
        user: session.user,
      })
      return access.value
    } catch (error) {
      // the other tabs share the refresh cookie, which the server just cleared: their session is over too
      const over = wasSignedIn && error instanceof TesseraClientError && error.code === 'SESSION_EXPIRED'
      channel?.post(over ? { type: 'signed-out' } : { type: 'refresh-failed' })
      throw error
    }
  }

  return {
    refresh(stale) {
      const generation = session.generation
      return flight.run(() => deps.lock.run(() => refreshLocked(stale, generation)))
    },
    idle: () => flight.idle(),
  }
}
