export { ConfigError, type ConfigProblem } from './config-error.js'
export { CONFIG_DOCS_PATH, renderConfigDocs } from './docs.js'
export { defaultHashConcurrency } from './hash-concurrency.js'
export {
  EMAIL_VERIFIED_CLAIMS,
  type EmailVerifiedClaim,
  isProviderVariable,
  type OAuthProviderConfig,
  PROVIDER_PROTOCOLS,
  type ProviderProtocol,
  RESPONSE_MODES,
  type ResponseMode,
  type SignedClientSecret,
  TOKEN_AUTH_METHODS,
  type TokenAuthMethod,
} from './oauth-providers.js'
export { parseConfig } from './parse.js'
export { isLoopbackHost, MAX_WORKERS, parseDuration, parseWorkers } from './parsers.js'
export type { Setting } from './setting.js'
export { SETTINGS } from './table.js'
export type {
  Config,
  DatabaseTarget,
  HashingConfig,
  LockoutConfig,
  RateLimit,
  RateLimitName,
  RateLimits,
  SigningAlg,
} from './types.js'
export { SIGNING_ALGS } from './types.js'
