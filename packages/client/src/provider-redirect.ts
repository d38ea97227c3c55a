import { SERVER_ERROR_CODES, type ServerErrorCode, TesseraClientError } from './errors.js'

/**
 * The browser side of a provider sign-in or link: the app's own PKCE pair, the verifier kept in
 * sessionStorage across the trip to the provider, and the `#code=` or `#error=` it comes back with.
 */

/** The members of `window` a provider sign-in uses; the browser's own by default. */
export interface BrowserPage {
  location: { href: string; hash: string; assign(url: string): void }
  history: { state: unknown; replaceState(data: unknown, unused: string, url?: string): void }
  sessionStorage: {
    getItem(key: string): string | null
    setItem(key: string, value: string): void
    removeItem(key: string): void
  }
}

/** The page's `location`, `history` and `sessionStorage`, or a TypeError outside a browser. */
export function browserPage(): BrowserPage {
  const page = globalThis as Partial<BrowserPage>
  if (!page.location || !page.history || !page.sessionStorage) {
    throw new TypeError('signing in with a provider needs a browser page (location, history, sessionStorage)')
  }
  return page as BrowserPage
}

/** A sign-in or link on its way to the provider and back, as kept in this tab's sessionStorage. */
export interface PendingRedirect {
  purpose: 'sign-in' | 'link'
  /** The PKCE verifier of the `codeChallenge` sent to Tessera (RFC 7636, 43 characters). */
  codeVerifier: string
  /** `cookie`: the callback sets the refresh cookie itself, and returns without a code. */
  mode: 'code' | 'cookie'
  /** The absolute `redirectTo`: in cookie mode, only that page finishes the sign-in. */
  returnTo: string
}

/**
 * The key of the pending redirect. sessionStorage belongs to one tab (and one origin), so a
 * sign-in started in another tab never overwrites this one's verifier; within a tab, a new start
 * replaces an abandoned one.
 */
const storageKey = (baseUrl: string) => `tessera:oauth:${baseUrl}`

export function keepPending(page: BrowserPage, baseUrl: string, pending: PendingRedirect): void {
  page.sessionStorage.setItem(storageKey(baseUrl), JSON.stringify(pending))
}

/** The pending redirect, if any, left in place. */
export function peekPending(page: BrowserPage, baseUrl: string): PendingRedirect | undefined {
  const raw = page.sessionStorage.getItem(storageKey(baseUrl))
  if (raw === null) return undefined
  try {
    const value: unknown = JSON.parse(raw)
    if (
      typeof value === 'object' &&
      value !== null &&
      'purpose' in value &&
      'codeVerifier' in value &&
      'mode' in value &&
      'returnTo' in value &&
      (value.purpose === 'sign-in' || value.purpose === 'link') &&
      typeof value.codeVerifier === 'string' &&
      (value.mode === 'code' || value.mode === 'cookie') &&
      typeof value.returnTo === 'string'
    ) {
      const { purpose, codeVerifier, mode, returnTo } = value
      return { purpose, codeVerifier, mode, returnTo }
    }
  } catch {
    // not ours, or damaged: treated as nothing pending
  }
  return undefined
}

export function forgetPending(page: BrowserPage, baseUrl: string): void {
  page.sessionStorage.removeItem(storageKey(baseUrl))
}

const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')

/** A PKCE pair (RFC 7636): 32 random bytes as the verifier, its SHA-256 as the S256 challenge. */
export async function newPkcePair(): Promise<{ codeVerifier: string; codeChallenge: string }> {
  const codeVerifier = base64url(crypto.getRandomValues(new Uint8Array(32)))
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(codeVerifier))
  return { codeVerifier, codeChallenge: base64url(new Uint8Array(digest)) }
}

/** What Tessera's callback appended to the return URL. */
export type ReturnFragment = { code: string } | { error: string }

/** `#code=…` or `#error=…` of the page's URL, or `undefined` for any other fragment. */
export function readFragment(page: BrowserPage): ReturnFragment | undefined {
  const params = new URLSearchParams(page.location.hash.replace(/^#/, ''))
  const code = params.get('code')
  if (code) return { code }
  const error = params.get('error')
  if (error) return { error }
  return undefined
}

/** The page's URL without its fragment. */
export function pageWithoutFragment(page: BrowserPage): string {
  const url = new URL(page.location.href)
  url.hash = ''
  return url.href
}

/** Takes the fragment out of the address bar (and so out of history), keeping path and query. */
export function clearFragment(page: BrowserPage): void {
  page.history.replaceState(page.history.state, '', pageWithoutFragment(page))
}

const isServerCode = (code: string): code is ServerErrorCode =>
  (SERVER_ERROR_CODES as readonly string[]).includes(code)

/**
 * The typed error of a `#error=CODE` return. A code this client does not know (a newer server)
 * becomes `PROVIDER_SIGN_IN_FAILED`, with the code in `detail`.
 */
export function returnError(code: string): TesseraClientError {
  const known = isServerCode(code)
  return new TesseraClientError(known ? code : 'PROVIDER_SIGN_IN_FAILED', {
    detail: known
      ? 'The provider sign-in returned an error.'
      : `The provider sign-in returned the error ${code.slice(0, 64)}.`,
    retryable: code === 'PROVIDER_UNAVAILABLE',
  })
}
