/** Every error code of the HTTP contract (API.md), with its status and title. */
export const ERRORS = {
  VALIDATION_FAILED: { status: 400, title: 'Bad Request' },
  MALFORMED_REQUEST: { status: 400, title: 'Bad Request' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Media Type' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload Too Large' },
  EMAIL_TAKEN: { status: 409, title: 'Conflict' },
  WEAK_PASSWORD: { status: 400, title: 'Bad Request' },
  INVALID_CREDENTIALS: { status: 401, title: 'Unauthorized' },
  TOKEN_MISSING: { status: 401, title: 'Unauthorized' },
  TOKEN_EXPIRED: { status: 401, title: 'Unauthorized' },
  TOKEN_INVALID: { status: 401, title: 'Unauthorized' },
  TOKEN_REVOKED: { status: 401, title: 'Unauthorized' },
  REFRESH_TOKEN_INVALID: { status: 401, title: 'Unauthorized' },
  REFRESH_TOKEN_REUSED: { status: 401, title: 'Unauthorized' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  EMAIL_NOT_VERIFIED: { status: 403, title: 'Forbidden' },
  ACCOUNT_DISABLED: { status: 403, title: 'Forbidden' },
  ACCOUNT_LOCKED: { status: 423, title: 'Locked' },
  RATE_LIMITED: { status: 429, title: 'Too Many Requests' },
  ONE_TIME_TOKEN_INVALID: { status: 400, title: 'Bad Request' },
  MFA_CODE_INVALID: { status: 401, title: 'Unauthorized' },
  MFA_TOKEN_INVALID: { status: 401, title: 'Unauthorized' },
  STEP_UP_REQUIRED: { status: 401, title: 'Unauthorized' },
  TOTP_ALREADY_ENABLED: { status: 409, title: 'Conflict' },
  CHALLENGE_INVALID: { status: 400, title: 'Bad Request' },
  PASSKEY_INVALID: { status: 401, title: 'Unauthorized' },
  ATTESTATION_INVALID: { status: 400, title: 'Bad Request' },
  PASSKEY_EXISTS: { status: 409, title: 'Conflict' },
  REDIRECT_NOT_ALLOWED: { status: 400, title: 'Bad Request' },
  OAUTH_STATE_INVALID: { status: 400, title: 'Bad Request' },
  PROVIDER_SIGN_IN_FAILED: { status: 400, title: 'Bad Request' },
  PROVIDER_EMAIL_MISSING: { status: 400, title: 'Bad Request' },
  ACCOUNT_EXISTS: { status: 409, title: 'Conflict' },
  LAST_SIGN_IN_METHOD: { status: 409, title: 'Conflict' },
  PROVIDER_UNAVAILABLE: { status: 502, title: 'Bad Gateway' },
  NOT_FOUND: { status: 404, title: 'Not Found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed' },
  REQUEST_TIMEOUT: { status: 408, title: 'Request Timeout' },
  URI_TOO_LONG: { status: 414, title: 'URI Too Long' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request Header Fields Too Large' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  INTERNAL: { status: 500, title: 'Internal Server Error' },
} as const satisfies Record<string, { status: number; title: string }>

export type ErrorCode = keyof typeof ERRORS

/** The human text sent when a throw site gives none; it never names an internal check. */
const DEFAULT_DETAIL: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'The request does not match the expected shape.',
  MALFORMED_REQUEST: 'The request body is not valid JSON.',
  UNSUPPORTED_MEDIA_TYPE: 'Send the body as application/json.',
  PAYLOAD_TOO_LARGE: 'The request body is too large.',
  EMAIL_TAKEN: 'An account with this email already exists.',
  WEAK_PASSWORD: 'Choose a stronger password.',
  INVALID_CREDENTIALS: 'Email or password is incorrect.',
  TOKEN_MISSING: 'Send an access token as Authorization: Bearer <token>.',
  TOKEN_EXPIRED: 'The access token has expired; refresh it.',
  TOKEN_INVALID: 'The access token is not valid.',
  TOKEN_REVOKED: 'The access token was revoked; refresh it or sign in again.',
  REFRESH_TOKEN_INVALID: 'The refresh token is missing, expired or revoked; sign in again.',
  REFRESH_TOKEN_REUSED: 'The refresh token was already used; the session has been revoked. Sign in again.',
  FORBIDDEN: 'You are not allowed to do this.',
  EMAIL_NOT_VERIFIED: 'Verify your email address before signing in.',
  ACCOUNT_DISABLED: 'This account has been disabled.',
  ACCOUNT_LOCKED: 'Too many failed sign-ins; try again later.',
  RATE_LIMITED: 'Too many requests; try again later.',
  ONE_TIME_TOKEN_INVALID: 'The link is invalid or has expired.',
  MFA_CODE_INVALID: 'The code is wrong, expired or already used.',
  MFA_TOKEN_INVALID: 'The sign-in has expired or was already completed; sign in again.',
  STEP_UP_REQUIRED: 'Confirm it is you: sign in again or step up with a second factor.',
  TOTP_ALREADY_ENABLED: 'An authenticator app is already set up; turn it off first to set up another.',
  CHALLENGE_INVALID: 'The passkey request expired or was already used; start again.',
  PASSKEY_INVALID: 'The passkey could not be verified.',
  ATTESTATION_INVALID: 'The new passkey could not be verified; try again.',
  PASSKEY_EXISTS: 'This passkey is already registered.',
  REDIRECT_NOT_ALLOWED: 'This redirectTo is not on the list of URLs a sign-in may return to.',
  OAUTH_STATE_INVALID: 'This sign-in was not started in this browser, or it expired; start again.',
  PROVIDER_SIGN_IN_FAILED: 'The provider did not sign you in; start again.',
  PROVIDER_EMAIL_MISSING: 'The provider did not share an email address.',
  ACCOUNT_EXISTS:
    'An account with this email already exists: sign in to it, then link the provider from your account.',
  PROVIDER_UNAVAILABLE: 'The provider cannot be reached; try again shortly.',
  LAST_SIGN_IN_METHOD:
    'This is the last way to sign in to the account: set a password or add a passkey before removing it.',
  NOT_FOUND: 'Not found.',
  METHOD_NOT_ALLOWED: 'This method is not allowed here; see the Allow header.',
  REQUEST_TIMEOUT: 'The request took too long to arrive.',
  URI_TOO_LONG: 'The URL is too long.',
  HEADERS_TOO_LARGE: 'The request headers are too large.',
  SERVICE_UNAVAILABLE: 'The service is temporarily unavailable; try again shortly.',
  INTERNAL: 'An unexpected error occurred.',
}

export interface FieldError {
  field: string
  message: string
}

export interface TesseraErrorOptions {
  detail?: string
  cause?: unknown
  errors?: FieldError[]
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number
  /** What broke, for the log only (an INTERNAL invariant): the client gets `detail`, never this. */
  reason?: string
  /** STEP_UP_REQUIRED: what the RFC 9470 challenge asks for (seconds since sign-in, `acr_values`). */
  stepUp?: StepUpChallenge
}

/** The parameters of an RFC 9470 `insufficient_user_authentication` challenge. */
export interface StepUpChallenge {
  /** Seconds: the sign-in must be at most this old. */
  maxAge?: number
  /** The `acr` that would do, e.g. `urn:tessera:mfa`. */
  acrValues?: string
}

/** The one error class of the server: a stable code; the HTTP status comes from {@link ERRORS}. */
export class TesseraError extends Error {
  readonly code: ErrorCode
  readonly detail: string
  readonly errors: FieldError[] | undefined
  readonly retryAfter: number | undefined
  readonly reason: string | undefined
  readonly stepUp: StepUpChallenge | undefined

  constructor(code: ErrorCode, options: TesseraErrorOptions = {}) {
    const detail = options.detail ?? DEFAULT_DETAIL[code]
    super(detail, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TesseraError'
    this.code = code
    this.detail = detail
    this.errors = options.errors
    this.retryAfter = options.retryAfter
    this.reason = options.reason
    this.stepUp = options.stepUp
  }

  get status(): number {
    return ERRORS[this.code].status
  }
}

export const isTesseraError = (value: unknown): value is TesseraError => value instanceof TesseraError

/** Why the key ring cannot sign or load; never sent to a client, which sees INTERNAL. */
export const KEY_RING_ERROR_CODES = [
  /** No key signs now, even after the ring made sure one does: the ring's rows are inconsistent. */
  'NO_SIGNING_KEY',
  /** Neither TESSERA_SECRET nor TESSERA_SECRET_PREVIOUS decrypts a signing key (see `kid`). */
  'KEY_UNREADABLE',
] as const

export type KeyRingErrorCode = (typeof KEY_RING_ERROR_CODES)[number]

/** A failure of the key ring, for the operator: branch on `code`, never on the message. */
export class KeyRingError extends Error {
  readonly code: KeyRingErrorCode
  /** The key concerned, when there is one. */
  readonly kid: string | undefined

  constructor(code: KeyRingErrorCode, message: string, kid?: string) {
    super(message)
    this.name = 'KeyRingError'
    this.code = code
    this.kid = kid
  }
}

/**
 * The errors of the OAuth endpoints (/oauth/*), which answer RFC 6749 §5.2 JSON
 * `{ error, error_description }` rather than problem+json: the code with its HTTP status.
 * `insufficient_scope` (RFC 6750 §3.1) is an authenticated client without the scope a route needs.
 */
export const OAUTH_ERRORS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_scope: 400,
  unsupported_grant_type: 400,
  insufficient_scope: 403,
} as const satisfies Record<string, number>

export type OAuthErrorCode = keyof typeof OAUTH_ERRORS

/** A refusal at an OAuth endpoint; `description` is sent as `error_description`. */
export class OAuthError extends Error {
  readonly code: OAuthErrorCode
  readonly description: string

  constructor(code: OAuthErrorCode, description: string, options: { cause?: unknown } = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'OAuthError'
    this.code = code
    this.description = description
  }

  get status(): number {
    return OAUTH_ERRORS[this.code]
  }
}
