import { unrefTimer } from './lock.js'
import type { User } from './types.js'

/**
 * What tabs of one origin tell each other about the session they share (in cookie mode the
 * browser shares the refresh cookie; this shares what the cookie cannot: the access token).
 * Times are milliseconds since the epoch on the local clock, which tabs of one browser share.
 */
export type TabMessage =
  | { type: 'refreshing' }
  | { type: 'session'; accessToken: string; expiresAt: number; lifetime: number; user: User | null }
  | { type: 'refresh-failed' }
  | { type: 'signed-out' }

export interface TabChannel {
  post(message: TabMessage): void
  /** Calls `listener` with each message another tab posts; returns an unsubscribe. */
  subscribe(listener: (message: TabMessage) => void): () => void
  /**
   * Resolves once no other tab is known to be refreshing (its outcome arrived), or after
   * `timeout` ms. Called after taking the refresh lock: the tab that held it announced
   * `refreshing` long before, and posts its outcome before releasing, so this only bridges the
   * gap between the lock being granted and that message being delivered.
   */
  othersSettled(timeout: number): Promise<void>
  close(): void
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null

function asTabMessage(value: unknown): TabMessage | undefined {
  if (!isRecord(value)) return undefined
  switch (value.type) {
    case 'refreshing':
    case 'refresh-failed':
    case 'signed-out':
      return { type: value.type }
    case 'session':
      if (
        typeof value.accessToken === 'string' &&
        typeof value.expiresAt === 'number' &&
        typeof value.lifetime === 'number' &&
        (value.user === null || isRecord(value.user))
      ) {
        return {
          type: 'session',
          accessToken: value.accessToken,
          expiresAt: value.expiresAt,
          lifetime: value.lifetime,
          // posted by our own code in another tab of the same origin
          user: value.user as User | null,
        }
      }
      return undefined
    default:
      return undefined
  }
}

/** A channel between the tabs of one origin, over `BroadcastChannel`; `undefined` where it is missing. */
export function tabChannel(name: string): TabChannel | undefined {
  if (typeof BroadcastChannel !== 'function') return undefined
  const channel = new BroadcastChannel(name)
  // in Node an open channel would keep the process alive
  unrefTimer(channel)
  const listeners = new Set<(message: TabMessage) => void>()
  let othersRefreshing = false
  let closed = false
  let settledWaiters: (() => void)[] = []

  channel.onmessage = (event: MessageEvent<unknown>) => {
    const message = asTabMessage(event.data)
    if (!message) return
    othersRefreshing = message.type === 'refreshing'
    if (!othersRefreshing) {
      const waiters = settledWaiters
      settledWaiters = []
      for (const wake of waiters) wake()
    }
    for (const listener of [...listeners]) listener(message)
  }

  return {
    post(message) {
      // a closed channel throws on post; a client closed mid-refresh has nobody left to tell
      if (!closed) channel.postMessage(message)
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    othersSettled(timeout) {
      if (!othersRefreshing) return Promise.resolve()
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          // the other tab went quiet (closed mid-refresh): stop waiting for it
          othersRefreshing = false
          resolve()
        }, timeout)
        unrefTimer(timer)
        settledWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    },
    close() {
      closed = true
      listeners.clear()
      channel.close()
      const waiters = settledWaiters
      settledWaiters = []
      for (const wake of waiters) wake()
    },
  }
}
