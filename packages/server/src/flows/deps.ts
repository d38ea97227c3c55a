import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { AuthEvents } from '../events.js'
import type { KeyRing } from '../keys/key-ring.js'
import type { WrappingKeys } from '../keys/wrapping.js'
import type { Limits } from '../limits/limits.js'
import type { Mailer } from '../mail/mail.js'
import type { PasswordHasher } from '../passwords/hasher.js'
import type { PasswordPolicy } from '../passwords/policy.js'
import type { Stores } from '../store/stores.js'
import type { ProviderDirectory } from './providers/provider-directory.js'

/** Everything a flow may need; each flow declares the part it uses with `Pick`. */
export interface FlowDeps {
  stores: Stores
  keyRing: KeyRing
  hasher: PasswordHasher
  policy: PasswordPolicy
  mailer: Mailer
  /** The audit log and metrics: flows record what happened. */
  events: AuthEvents
  /** Rate limits and the account lockout (`noLimits` with TESSERA_RATE_LIMIT=off). */
  limits: Limits
  clock: Clock
  config: Config
  /** Seal and open TOTP secrets at rest (TESSERA_SECRET, and TESSERA_SECRET_PREVIOUS while rotating). */
  totpKeys: WrappingKeys
  /** The sign-in providers (TESSERA_OAUTH_PROVIDERS), their discovered configurations and state key. */
  providers: ProviderDirectory
}

/** Where a request came from, recorded on the session it opens and in the audit log. */
export interface ClientContext {
  userAgent: string | null
  ip: string | null
}

/** No request behind the call (the CLI, a job): the audit log records no address. */
export const NO_CLIENT: ClientContext = Object.freeze({ userAgent: null, ip: null })
