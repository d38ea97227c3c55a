import { type AuthEventStore, createAuthEventStore } from './auth-events.js'
import type { Db } from './db.js'
import { createOneTimeTokenStore, type OneTimeTokenStore } from './one-time-tokens.js'
import { createRefreshTokenStore, type RefreshTokenStore } from './refresh-tokens.js'
import { createSessionStore, type SessionStore } from './sessions.js'
import { createSigningKeyStore, type SigningKeyStore } from './signing-keys.js'
import { createUserStore, type UserStore } from './users.js'

export interface Stores {
  users: UserStore
  sessions: SessionStore
  refreshTokens: RefreshTokenStore
  signingKeys: SigningKeyStore
  oneTimeTokens: OneTimeTokenStore
  /** The audit log; written by the event recorder (audit/recorder.ts), pruned by retention. */
  authEvents: AuthEventStore
  /** Runs `work` in one transaction: every store it is handed writes inside it. */
  transaction<T>(work: (tx: Stores) => Promise<T>): Promise<T>
}

export function createStores(db: Db): Stores {
  return {
    users: createUserStore(db),
    sessions: createSessionStore(db),
    refreshTokens: createRefreshTokenStore(db),
    signingKeys: createSigningKeyStore(db),
    oneTimeTokens: createOneTimeTokenStore(db),
    authEvents: createAuthEventStore(db),
    transaction: (work) => db.transaction().execute((trx) => work(createStores(trx))),
  }
}
