import { type AuthEventStore, createAuthEventStore } from './auth-events.js'
import type { Db } from './db.js'
import { createIdentityStore, type IdentityStore } from './identities.js'
import { createMfaTokenStore, type MfaTokenStore } from './mfa-tokens.js'
import { createOneTimeTokenStore, type OneTimeTokenStore } from './one-time-tokens.js'
import { createPasskeyStore, type PasskeyStore } from './passkeys.js'
import { createRefreshTokenStore, type RefreshTokenStore } from './refresh-tokens.js'
import {
  appendEvents,
  createRevocationEventStore,
  type NewRevocationEvent,
  type RevocationEventStore,
  type RevocationWriter,
} from './revocation-events.js'
import { createSecondFactorStore, type SecondFactorStore } from './second-factors.js'
import { createServiceClientStore, type ServiceClientStore } from './service-clients.js'
import { createSessionStore, type SessionStore } from './sessions.js'
import { createSigningKeyStore, type SigningKeyStore } from './signing-keys.js'
import { createUserStore, type UserStore } from './users.js'
import { createWebauthnChallengeStore, type WebauthnChallengeStore } from './webauthn-challenges.js'
import { createWebhookStore, type WebhookOptions, type WebhookStore } from './webhooks.js'

export interface Stores {
  users: UserStore
  sessions: SessionStore
  refreshTokens: RefreshTokenStore
  signingKeys: SigningKeyStore
  oneTimeTokens: OneTimeTokenStore
  /** The audit log; written by the event recorder (audit/recorder.ts), pruned by retention. */
  authEvents: AuthEventStore
  /** The revocation feed's events; the session and user stores append them with their changes. */
  revocationEvents: RevocationEventStore
  /** Service credentials (`tessera clients`), for /oauth/* and the revocation feed. */
  serviceClients: ServiceClientStore
  /** TOTP factors and recovery codes. */
  secondFactors: SecondFactorStore
  /** The tokens between a right password and the second factor. */
  mfaTokens: MfaTokenStore
  /** The users' passkeys (WebAuthn credentials). */
  passkeys: PasskeyStore
  /** The single-use challenges of WebAuthn ceremonies. */
  webauthnChallenges: WebauthnChallengeStore
  /** The users' identities at sign-in providers. */
  identities: IdentityStore
  /**
   * The webhook outbox: `tx.webhooks.enqueue({ type, data })` in the transaction of the change.
   * The session store enqueues `session.created` and `session.revoked` itself.
   */
  webhooks: WebhookStore
  /** Runs `work` in one transaction: every store it is handed writes inside it. */
  transaction<T>(work: (tx: Stores) => Promise<T>): Promise<T>
}

export interface StoreOptions {
  /** Seconds an access token lives (TESSERA_ACCESS_TOKEN_TTL): how long revocation events matter. */
  accessTokenTtl: number
  /**
   * Called after a revocation event was committed (the feed wakes its subscribers at once rather
   * than at its next poll).
   */
  onRevocation?: () => void
  /** Webhook events are written to the outbox (TESSERA_WEBHOOK_URL is set); undefined: none are. */
  webhooks?: WebhookOptions | undefined
}

export function createStores(db: Db, options: StoreOptions): Stores {
  return storesOn(
    db,
    options.accessTokenTtl,
    { defer: undefined, notify: () => options.onRevocation?.() },
    options.webhooks,
  )
}

function storesOn(
  db: Db,
  accessTokenTtl: number,
  writer: RevocationWriter,
  webhooks: WebhookOptions | undefined,
): Stores {
  const eventOptions = { accessTokenTtl, writer }
  return {
    users: createUserStore(db, eventOptions),
    sessions: createSessionStore(db, { ...eventOptions, webhooks }),
    refreshTokens: createRefreshTokenStore(db),
    signingKeys: createSigningKeyStore(db),
    oneTimeTokens: createOneTimeTokenStore(db),
    authEvents: createAuthEventStore(db),
    revocationEvents: createRevocationEventStore(db, writer),
    serviceClients: createServiceClientStore(db),
    secondFactors: createSecondFactorStore(db),
    mfaTokens: createMfaTokenStore(db),
    passkeys: createPasskeyStore(db),
    webauthnChallenges: createWebauthnChallengeStore(db),
    identities: createIdentityStore(db),
    webhooks: createWebhookStore(db, webhooks),
    async transaction(work) {
      // the revocations of the work are appended at its end, the feed's lock the last one taken;
      // the subscribers hear of them once committed
      const pending: NewRevocationEvent[] = []
      const defer = (events: readonly NewRevocationEvent[]) => {
        pending.push(...events)
      }
      const result = await db.transaction().execute(async (trx) => {
        const value = await work(storesOn(trx, accessTokenTtl, { defer, notify: writer.notify }, webhooks))
        await appendEvents(trx, pending)
        return value
      })
      if (pending.length > 0) writer.notify()
      return result
    },
  }
}
