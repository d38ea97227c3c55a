export type { AccessClaims } from './claims.js'
export { AUTH_ERRORS, type AuthErrorCode, TesseraAuthError, type TesseraAuthErrorOptions } from './errors.js'
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
