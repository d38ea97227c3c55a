/** Every code a {@link TesseraAuthError} carries, with its HTTP status, title and default detail. */
export const AUTH_ERRORS = {
  TOKEN_MISSING: {
    status: 401,
    title: 'Unauthorized',
    detail: 'Send an access token as Authorization: Bearer <token>.',
  },
  TOKEN_EXPIRED: { status: 401, title: 'Unauthorized', detail: 'The access token has expired; refresh it.' },
  TOKEN_INVALID: { status: 401, title: 'Unauthorized', detail: 'The access token is not valid.' },
  TOKEN_REVOKED: {
    status: 401,
    title: 'Unauthorized',
    detail: 'The access token has been revoked; refresh it.',
  },
  STEP_UP_REQUIRED: {
    status: 401,
    title: 'Unauthorized',
    detail: 'Sign in again, or confirm with a second factor, to do this.',
  },
  FORBIDDEN: { status: 403, title: 'Forbidden', detail: 'You are not allowed to do this.' },
  SERVICE_UNAVAILABLE: {
    status: 503,
    title: 'Service Unavailable',
    detail: 'Access tokens cannot be checked right now; try again later.',
  },
} as const satisfies Record<string, { status: number; title: string; detail: string }>

/**
 * `TOKEN_MISSING` | `TOKEN_EXPIRED` | `TOKEN_INVALID` | `TOKEN_REVOKED` | `STEP_UP_REQUIRED` |
 * `FORBIDDEN` | `SERVICE_UNAVAILABLE`, as in Tessera's API.md.
 */
export type AuthErrorCode = keyof typeof AUTH_ERRORS

/**
 * What a `STEP_UP_REQUIRED` asks for (RFC 9470): the route's requirements, which the token after
 * stepping up must meet, sent as the `acr_values` and `max_age` of the challenge.
 */
export interface StepUpChallenge {
  /** The authentication context classes the route accepts: `['urn:tessera:mfa']` for `mfa: true`. */
  readonly acrValues?: readonly string[]
  /** Seconds: the sign-in must be at most this old (the route's `maxAge`). */
  readonly maxAge?: number
}

export interface TesseraAuthErrorOptions {
  /** The underlying error: a jose error, a network error from fetching keys, … */
  cause?: unknown
  /** The verifier could not get the keys (JWKS or discovery unreachable, timed out, malformed). */
  keysUnavailable?: boolean
  /** `SERVICE_UNAVAILABLE`: seconds after which to try again, sent as `Retry-After`. */
  retryAfter?: number
  /** `FORBIDDEN` for a missing scope: the scopes the route requires, sent in the `insufficient_scope` challenge. */
  requiredScopes?: readonly string[]
  /** `STEP_UP_REQUIRED`: what the route requires, sent in the `insufficient_user_authentication` challenge. */
  stepUp?: StepUpChallenge
}

/**
 * The one error of this package. Branch on `code`, never on the message. `status` is the HTTP
 * status the middleware answers with (401, also for `STEP_UP_REQUIRED`; 403 for `FORBIDDEN`; 503 for `SERVICE_UNAVAILABLE`).
 * `message` is safe to show a client: it never says which check failed; `cause` (for your logs
 * only) does.
 */
export class TesseraAuthError extends Error {
  readonly code: AuthErrorCode
  readonly status: 401 | 403 | 503
  /**
   * True when the token could not be judged because the keys were out of reach (the JWKS or
   * discovery endpoint down, slow or answering garbage). Still `TOKEN_INVALID` to the client, but
   * an outage on your side: log it as one. `cause` holds the network or jose error.
   */
  readonly keysUnavailable: boolean
  /** Seconds after which a `SERVICE_UNAVAILABLE` is worth retrying (the `Retry-After` header). */
  readonly retryAfter: number | undefined
  /** For a `FORBIDDEN` of `requireScope`: the scopes required (the challenge's `scope`); else undefined. */
  readonly requiredScopes: readonly string[] | undefined
  /** For a `STEP_UP_REQUIRED`: the acr values and max age the route requires; else undefined. */
  readonly stepUp: StepUpChallenge | undefined

  constructor(code: AuthErrorCode, options: TesseraAuthErrorOptions = {}) {
    super(AUTH_ERRORS[code].detail, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TesseraAuthError'
    this.code = code
    this.status = AUTH_ERRORS[code].status
    this.keysUnavailable = options.keysUnavailable ?? false
    this.retryAfter = options.retryAfter
    this.requiredScopes = options.requiredScopes
    this.stepUp = options.stepUp
  }
}
