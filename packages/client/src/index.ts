export type { AccountActions, EmailVerification, PasswordChange, PasswordReset } from './account.js'
export {
  type Credentials,
  createClient,
  type LoginResult,
  type MagicLinkToken,
  type RegisterResult,
  type Registration,
  type TesseraClient,
} from './client.js'
export type { ClientOptions } from './client-options.js'
export {
  CLIENT_ERROR_CODES,
  type ClientErrorCode,
  type FieldError,
  isStepUpRequired,
  type Problem,
  SERVER_ERROR_CODES,
  type ServerErrorCode,
  TesseraClientError,
  type TesseraClientErrorCode,
} from './errors.js'
export type { FetchLike } from './http.js'
export {
  type BroadcastLockOptions,
  broadcastLock,
  type LockManagerLike,
  REFRESH_LOCK_NAME,
  type RefreshLock,
  webLock,
} from './lock.js'
export type {
  CodeProof,
  MfaActions,
  MfaEnrollmentRequired,
  MfaMethod,
  MfaProof,
  MfaRequired,
  MfaStatus,
  RecoveryCodes,
  StepUpProof,
  TotpSetup,
} from './mfa.js'
export type { NewPasskey, PasskeyActions, PasskeyInfo } from './passkeys.js'
export type {
  IdentityInfo,
  LinkProviderOptions,
  ProviderActions,
  ProviderInfo,
  SignInWithOptions,
} from './providers.js'
export type { StepUpChallenge } from './step-up.js'
export { memoryStorage, type RefreshTokenStorage } from './storage.js'
export type {
  ClientEvent,
  ClientState,
  SessionInfo,
  SignOutReason,
  TokenDelivery,
  TokenResponse,
  User,
} from './types.js'
