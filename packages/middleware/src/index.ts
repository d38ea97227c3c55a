export type { AccessClaims } from './claims.js'
export {
  AUTH_ERRORS,
  type AuthErrorCode,
  type StepUpChallenge,
  TesseraAuthError,
  type TesseraAuthErrorOptions,
} from './errors.js'
export type { AuthorizeOptions, Clock } from './lib/authorize-options.js'
export { createVerifier, type TokenCacheStats, type Verifier } from './verifier.js'
export {
  ALGORITHMS,
  type Algorithm,
  type FeedLostPolicy,
  type FetchLike,
  type RevocationFeedOptions,
  type RevocationFeedState,
  type RevocationFeedStatus,
  type VerifierOptions,
} from './verifier-options.js'
