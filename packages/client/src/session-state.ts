import type { ClientEvent, ClientState, SignOutReason, TokenResponse, User } from './types.js'

/** An access token and when it expires, measured on the local clock when it arrived. */
export interface AccessToken {
  readonly value: string
  /** Milliseconds since the epoch, local clock: receipt time + `expiresIn`. */
  readonly expiresAt: number
  /** Milliseconds: the lifetime the server gave (`expiresIn`). */
  readonly lifetime: number
}

export interface SessionStateOptions {
  /** Local time in milliseconds since the epoch. */
  now: () => number
  /** Seconds before expiry at which a token stops counting as fresh; capped at half its lifetime. */
  refreshMargin: number
}

/** What one client knows about its session, and who to tell when that changes. */
export interface SessionState {
  readonly state: ClientState
  readonly user: User | null
  readonly access: AccessToken | undefined
  /** Bumped at every sign-out, so a refresh that began before one cannot sign back in. */
  readonly generation: number
  /** Whether `access` may still be sent without refreshing first. */
  isFresh(access: AccessToken): boolean
  /** Takes the tokens of a token response that arrived at `receivedAt` (ms, local clock). */
  accept(tokens: TokenResponse, receivedAt: number): AccessToken
  /** Takes a session another tab obtained. */
  adopt(access: AccessToken, user: User | null): void
  setUser(user: User): void
  /** Makes the next call refresh first, when `value` is still the current token. */
  markStale(value: string): void
  /** Clears the tokens and user; tells listeners when the state changes. */
  signOut(reason: SignOutReason): void
  /** Calls `listener` on each change to signed-in or signed-out; returns an unsubscribe. */
  onChange(listener: (event: ClientEvent) => void): () => void
}

export function createSessionState(options: SessionStateOptions): SessionState {
  let state: ClientState = 'unknown'
  let user: User | null = null
  let access: AccessToken | undefined
  let generation = 0
  const listeners = new Set<(event: ClientEvent) => void>()

  const emit = (event: ClientEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event)
      } catch (error) {
        // a listener's bug must not break the session bookkeeping; surface it on its own
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  function signIn(next: AccessToken, nextUser: User | null) {
    const changedUser = nextUser !== null && user !== null && nextUser.id !== user.id
    const wasSignedIn = state === 'signed-in'
    access = next
    if (nextUser) user = nextUser
    state = 'signed-in'
    if (!wasSignedIn || changedUser) emit({ type: 'signed-in', user })
  }

  return {
    get state() {
      return state
    },
    get user() {
      return user
    },
    get access() {
      return access
    },
    get generation() {
      return generation
    },
    isFresh(token) {
      // refresh a little early, but never sooner than half-way through a short-lived token
      const margin = Math.min(options.refreshMargin * 1000, token.lifetime / 2)
      return options.now() < token.expiresAt - margin
    },
    accept(tokens, receivedAt) {
      const lifetime = tokens.expiresIn * 1000
      const next = { value: tokens.accessToken, expiresAt: receivedAt + lifetime, lifetime }
      signIn(next, tokens.user ?? null)
      return next
    },
    adopt(next, nextUser) {
      signIn(next, nextUser)
    },
    setUser(next) {
      user = next
    },
    markStale(value) {
      if (access?.value === value) access = { ...access, expiresAt: Number.NEGATIVE_INFINITY }
    },
    signOut(reason) {
      const previous = state
      access = undefined
      user = null
      state = 'signed-out'
      generation += 1
      if (previous !== 'signed-out') emit({ type: 'signed-out', reason })
    },
    onChange(listener) {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
  }
}
