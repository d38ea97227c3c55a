import { readProblem, stepUpError, TesseraClientError } from './errors.js'
import type { FetchLike } from './http.js'
import type { Refresher } from './refresh.js'
import type { SessionState } from './session-state.js'

export interface AuthorizedFetchDeps {
  fetch: FetchLike
  session: SessionState
  refresher: Refresher
  /** Whether a refresh might bring a session back when no access token is held. */
  mayHaveSession(): Promise<boolean>
}

export interface AuthorizedFetch {
  /** `fetch` with the access token, refreshing first when it is about to expire. */
  fetch: FetchLike
  /** A fresh access token, refreshing first when needed. */
  token(): Promise<string>
}

interface Attempt {
  input: RequestInfo | URL
  init: RequestInit | undefined
}

const isRequest = (input: RequestInfo | URL): input is Request =>
  typeof Request === 'function' && input instanceof Request

/** The headers fetch would send: `init.headers` replaces a Request's own, as in fetch itself. */
function headersOf({ input, init }: Attempt): Headers {
  if (init?.headers !== undefined) return new Headers(init.headers)
  return new Headers(isRequest(input) ? input.headers : undefined)
}

/**
 * The first attempt, and a way to make a second one with the same body:
 * - a `ReadableStream` passed as `init.body` can be read only once and may be large: never retried;
 * - a `Request` with a body is cloned before the first attempt (the clone keeps a copy of the body
 *   as it is sent, which is what lets it be sent again);
 * - any other body (string, Blob, FormData, URLSearchParams, ArrayBuffer, typed array) is reusable.
 */
function prepareAttempts(input: RequestInfo | URL, init: RequestInit | undefined) {
  const first: Attempt = { input, init }
  if (typeof ReadableStream === 'function' && init?.body instanceof ReadableStream) {
    return { first, second: (): Attempt | undefined => undefined }
  }
  if ((init?.body === undefined || init.body === null) && isRequest(input) && input.body !== null) {
    if (input.bodyUsed) return { first, second: (): Attempt | undefined => undefined }
    const spare = input.clone()
    return { first, second: (): Attempt | undefined => ({ input: spare, init }) }
  }
  return { first, second: (): Attempt | undefined => first }
}

/**
 * The 401 problem codes a refresh may cure: `TOKEN_EXPIRED`, and `TOKEN_REVOKED` (the API follows
 * the server's revocation feed: the session was revoked, and then the refresh fails and signs us
 * out, or the user changed, e.g. new roles, and the refreshed token carries the change).
 */
const REFRESHABLE: readonly string[] = ['TOKEN_EXPIRED', 'TOKEN_REVOKED']

/** Whether an answer says a new access token could succeed (problem code in {@link REFRESHABLE}). */
async function saysRefresh(response: Response): Promise<boolean> {
  if (response.status !== 401) return false
  const code = (await readProblem(response))?.code
  return code !== undefined && REFRESHABLE.includes(code)
}

export function createAuthorizedFetch(deps: AuthorizedFetchDeps): AuthorizedFetch {
  const { session, refresher } = deps

  async function token(): Promise<string> {
    const access = session.access
    if (access && session.isFresh(access)) return access.value
    if (!access && !(await deps.mayHaveSession())) {
      throw new TesseraClientError('NOT_SIGNED_IN', { detail: 'Sign in first.' })
    }
    return refresher.refresh(access?.value ?? null)
  }

  function send(attempt: Attempt, accessToken: string): Promise<Response> {
    const headers = headersOf(attempt)
    headers.set('authorization', `Bearer ${accessToken}`)
    return deps.fetch(attempt.input, { ...attempt.init, headers })
  }

  /**
   * A 401 asking for a step-up is thrown as `STEP_UP_REQUIRED`, never refreshed: a refresh keeps
   * the session's `acr` and `auth_time`, so it could not satisfy the API, only loop.
   */
  async function settle(response: Response): Promise<Response> {
    const stepUp = await stepUpError(response)
    if (!stepUp) return response
    response.body?.cancel().catch(() => undefined)
    throw stepUp
  }

  async function authorizedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // the caller brought its own credentials: they are not ours to refresh
    if (headersOf({ input, init }).has('authorization')) return deps.fetch(input, init)

    const attempts = prepareAttempts(input, init)
    const accessToken = await token()
    const response = await send(attempts.first, accessToken)
    if (!(await saysRefresh(response))) return settle(response)

    // our clock thought the token fresh, the server's did not (or it expired in transit), or the
    // token was revoked: one refresh tells whether the session lives on
    const second = attempts.second()
    if (!second) {
      session.markStale(accessToken)
      return response
    }
    // nobody reads the first answer; free its connection (failing to cancel changes nothing)
    response.body?.cancel().catch(() => undefined)
    const fresh = await refresher.refresh(accessToken)
    // exactly one retry: its answer goes to the caller (a step-up request as the error)
    return settle(await send(second, fresh))
  }

  return { fetch: authorizedFetch, token }
}
