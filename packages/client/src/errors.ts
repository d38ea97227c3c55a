import { isStepUpHeader, parseStepUp, type StepUpChallenge } from './step-up.js'
import { isRecord } from './types.js'

/** The problem codes a Tessera server answers with (docs/api.md, "Errors"). */
export const SERVER_ERROR_CODES = [
  'VALIDATION_FAILED',
  'MALFORMED_REQUEST',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'EMAIL_TAKEN',
  'WEAK_PASSWORD',
  'INVALID_CREDENTIALS',
  'TOKEN_MISSING',
  'TOKEN_EXPIRED',
  'TOKEN_INVALID',
  'TOKEN_REVOKED',
  'STEP_UP_REQUIRED',
  'MFA_CODE_INVALID',
  'MFA_TOKEN_INVALID',
  'TOTP_ALREADY_ENABLED',
  'CHALLENGE_INVALID',
  'PASSKEY_INVALID',
  'ATTESTATION_INVALID',
  'PASSKEY_EXISTS',
  'REDIRECT_NOT_ALLOWED',
  'OAUTH_STATE_INVALID',
  'PROVIDER_SIGN_IN_FAILED',
  'PROVIDER_EMAIL_MISSING',
  'ACCOUNT_EXISTS',
  'LAST_SIGN_IN_METHOD',
  'PROVIDER_UNAVAILABLE',
  'REFRESH_TOKEN_INVALID',
  'REFRESH_TOKEN_REUSED',
  'FORBIDDEN',
  'EMAIL_NOT_VERIFIED',
  'ACCOUNT_DISABLED',
  'ACCOUNT_LOCKED',
  'RATE_LIMITED',
  'ONE_TIME_TOKEN_INVALID',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'REQUEST_TIMEOUT',
  'URI_TOO_LONG',
  'HEADERS_TOO_LARGE',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
] as const
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number]

/**
 * The codes the client raises itself:
 * - `SESSION_EXPIRED`: the server refused the refresh token (`REFRESH_TOKEN_INVALID` or
 *   `REFRESH_TOKEN_REUSED`); the client signed out. Not retryable: sign in again.
 * - `REFRESH_FAILED`: the refresh could not be done now (network failure, 429, 5xx, …); the
 *   session is kept. Retryable when the cause is temporary, after `retryAfter` seconds if given.
 * - `NOT_SIGNED_IN`: a call that needs a session, made without one; no request was sent.
 * - `NETWORK_ERROR`: an auth request (register, login, logout, …) did not reach the server.
 * - `BAD_RESPONSE`: the server answered success with a body that is not what Tessera sends.
 * - `HTTP_ERROR`: an error answer that is not a Tessera problem (a proxy's 502 page, an unknown code).
 * - `WEBAUTHN_UNAVAILABLE`: a passkey call where the browser has no WebAuthn (Node, an insecure
 *   page, a browser without `PublicKeyCredential.parseCreationOptionsFromJSON`); nothing was sent.
 * - `PASSKEY_CANCELLED`: the user dismissed the passkey prompt, or it timed out. Retryable.
 * - `WEBAUTHN_FAILED`: the browser refused the passkey request otherwise (`cause` holds its error,
 *   e.g. a `SecurityError` for a page outside the relying party).
 */
export const CLIENT_ERROR_CODES = [
  'SESSION_EXPIRED',
  'REFRESH_FAILED',
  'NOT_SIGNED_IN',
  'NETWORK_ERROR',
  'BAD_RESPONSE',
  'HTTP_ERROR',
  'WEBAUTHN_UNAVAILABLE',
  'PASSKEY_CANCELLED',
  'WEBAUTHN_FAILED',
] as const
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number]

export type TesseraClientErrorCode = ServerErrorCode | ClientErrorCode

/** One failed field of a `VALIDATION_FAILED` problem. */
export interface FieldError {
  field: string
  message: string
}

/** An RFC 9457 problem details body as Tessera sends it. */
export interface Problem {
  type: string
  title: string
  status: number
  code: string
  detail?: string
  errors?: FieldError[]
}

export interface TesseraClientErrorOptions {
  /** HTTP status of the answer behind the error, if there was one. */
  status?: number
  /** Human-readable explanation; defaults to the problem's `detail`. */
  detail?: string
  errors?: readonly FieldError[]
  /** Whether the same call may succeed later unchanged; default `false`. */
  retryable?: boolean
  /** Seconds to wait before retrying, from the `Retry-After` header. */
  retryAfter?: number
  problem?: Problem
  /** `STEP_UP_REQUIRED`: what the API asks for, from its `WWW-Authenticate` challenge. */
  stepUp?: StepUpChallenge
  cause?: unknown
}

/** Every error the client throws. Branch on `code`, never on `message`. */
export class TesseraClientError extends Error {
  override readonly name = 'TesseraClientError'
  readonly code: TesseraClientErrorCode
  readonly status: number | undefined
  readonly detail: string | undefined
  /** Field errors of a `VALIDATION_FAILED` answer; empty otherwise. */
  readonly errors: readonly FieldError[]
  readonly retryable: boolean
  /** Seconds, from the `Retry-After` header, when the server sent one. */
  readonly retryAfter: number | undefined
  /** The problem+json body the server answered with, when it did. */
  readonly problem: Problem | undefined
  /**
   * For `STEP_UP_REQUIRED`: what the API asks for (`acrValues`, `maxAge`), read from its
   * `WWW-Authenticate` challenge; undefined for any other code.
   */
  readonly stepUp: StepUpChallenge | undefined

  constructor(code: TesseraClientErrorCode, options: TesseraClientErrorOptions = {}) {
    const detail = options.detail ?? options.problem?.detail
    super(detail ? `${code}: ${detail}` : code, options.cause === undefined ? {} : { cause: options.cause })
    this.code = code
    this.status = options.status ?? options.problem?.status
    this.detail = detail
    this.errors = options.errors ?? options.problem?.errors ?? []
    this.retryable = options.retryable ?? false
    this.retryAfter = options.retryAfter
    this.problem = options.problem
    this.stepUp = options.stepUp
  }
}

const isServerCode = (code: string): code is ServerErrorCode =>
  (SERVER_ERROR_CODES as readonly string[]).includes(code)

const isFieldError = (value: unknown): value is FieldError =>
  isRecord(value) && typeof value.field === 'string' && typeof value.message === 'string'

/** Narrows a parsed body to a {@link Problem}, or `undefined` when it is not one. */
export function asProblem(value: unknown): Problem | undefined {
  if (!isRecord(value) || typeof value.code !== 'string' || typeof value.status !== 'number') return undefined
  const problem: Problem = {
    type: typeof value.type === 'string' ? value.type : 'about:blank',
    title: typeof value.title === 'string' ? value.title : '',
    status: value.status,
    code: value.code,
  }
  if (typeof value.detail === 'string') problem.detail = value.detail
  if (Array.isArray(value.errors)) problem.errors = value.errors.filter(isFieldError)
  return problem
}

/** Reads the problem body of an error answer without consuming the response. */
export async function readProblem(response: Response): Promise<Problem | undefined> {
  if (!response.headers.get('content-type')?.includes('json')) return undefined
  try {
    return asProblem(await response.clone().json())
  } catch {
    // a body that is not JSON is simply not a problem; the caller falls back to the status
    return undefined
  }
}

/**
 * Seconds from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 * `nowMs` is the local time in milliseconds since the epoch.
 */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000))
}

/** Statuses after which the same request may well succeed later. */
export const isTemporaryStatus = (status: number): boolean =>
  status === 408 || status === 429 || status === 502 || status === 503 || status === 504

/**
 * Whether an error is a `STEP_UP_REQUIRED`: Tessera or an API wants a recent sign-in or a second
 * factor (`error.stepUp` says which). Call `client.stepUp(...)`, then retry.
 */
export const isStepUpRequired = (
  error: unknown,
): error is TesseraClientError & { code: 'STEP_UP_REQUIRED'; stepUp: StepUpChallenge } =>
  error instanceof TesseraClientError && error.code === 'STEP_UP_REQUIRED'

/**
 * The `STEP_UP_REQUIRED` error of a 401 that asks for a step-up (RFC 9470): problem code
 * `STEP_UP_REQUIRED` (Tessera, or an API using `@tessera/middleware`), or only the
 * `insufficient_user_authentication` challenge (any other RFC 9470 resource server). `undefined`
 * for any other answer.
 */
export async function stepUpError(response: Response): Promise<TesseraClientError | undefined> {
  if (response.status !== 401) return undefined
  const header = response.headers.get('www-authenticate')
  const problem = await readProblem(response)
  if (problem?.code !== 'STEP_UP_REQUIRED' && !isStepUpHeader(header)) return undefined
  return new TesseraClientError('STEP_UP_REQUIRED', {
    status: 401,
    ...(problem ? { problem } : { detail: 'A more recent or stronger sign-in is required.' }),
    stepUp: parseStepUp(header),
  })
}

/** Turns an error answer of the auth server into a typed error carrying its code, status and problem. */
export async function errorFromResponse(response: Response, nowMs: number): Promise<TesseraClientError> {
  const stepUp = await stepUpError(response)
  if (stepUp) return stepUp
  const problem = await readProblem(response)
  const code = problem && isServerCode(problem.code) ? problem.code : 'HTTP_ERROR'
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'), nowMs)
  return new TesseraClientError(code, {
    status: response.status,
    ...(problem ? { problem } : { detail: `${response.status} ${response.statusText}`.trim() }),
    retryable: isTemporaryStatus(response.status),
    ...(retryAfter === undefined ? {} : { retryAfter }),
  })
}
