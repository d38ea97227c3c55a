import { TesseraClientError } from './errors.js'

/** The `fetch` signature the client calls; the global one fits, and so does a test double. */
export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>

/** The body of a success answer as JSON, or a `BAD_RESPONSE` error when it is not JSON. */
export async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json()
  } catch (cause) {
    throw new TesseraClientError('BAD_RESPONSE', {
      status: response.status,
      detail: 'The server answered with a body that is not JSON.',
      cause,
    })
  }
}

/** A `BAD_RESPONSE` error: a success answer that is not `what` Tessera sends. */
export const badResponse = (response: Response, what: string): TesseraClientError =>
  new TesseraClientError('BAD_RESPONSE', { status: response.status, detail: `The answer is not ${what}.` })

/**
 * Sends `init` to `url`, turning a failure to reach the server into a retryable `NETWORK_ERROR`.
 * `fetch` may be the client's authorized fetch: its own errors (NOT_SIGNED_IN, SESSION_EXPIRED,
 * REFRESH_FAILED) pass as they are.
 */
export async function send(fetch: FetchLike, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init)
  } catch (cause) {
    if (cause instanceof TesseraClientError || init.signal?.aborted) throw cause
    throw new TesseraClientError('NETWORK_ERROR', {
      detail: 'The request did not reach the server.',
      retryable: true,
      cause,
    })
  }
}

/** A JSON POST; `credentials: 'include'` lets the browser send and store the refresh cookie. */
export function jsonPost(body: unknown, withCookies: boolean): RequestInit {
  const init: RequestInit = {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  }
  if (withCookies) init.credentials = 'include'
  return init
}
