import type { FetchLike } from './http.js'
import type { RefreshLock } from './lock.js'
import type { RefreshTokenStorage } from './storage.js'
import { TOKEN_DELIVERIES, type TokenDelivery } from './types.js'

/** Options of {@link createClient}. Checked once when the client is created; a bad value throws. */
export interface ClientOptions {
  /**
   * The Tessera server's public URL (`TESSERA_PUBLIC_URL`), e.g. `https://auth.example.com`, or
   * `https://example.com/api` when it is mounted under a path. Auth calls go to `${baseUrl}/auth/…`.
   * In a browser it may be relative to the page (`/api`).
   */
  baseUrl: string
  /**
   * How the refresh token travels. `'cookie'`: only in the server's httpOnly cookie, never seen by
   * JavaScript. `'body'`: in JSON bodies, kept in `storage`.
   * Default: `'cookie'` where a `document` exists (browsers), else `'body'` (Node, workers, native).
   */
  tokenDelivery?: TokenDelivery
  /** Where the refresh token is kept in body mode. Default: in memory. Not allowed in cookie mode. */
  storage?: RefreshTokenStorage
  /** The fetch to call. Default: the global `fetch`. */
  fetch?: FetchLike
  /**
   * Seconds before the access token expires at which the client refreshes it ahead of a call,
   * never more than half the token's lifetime. Counted from when the token arrived on the local
   * clock, so a wrong client clock does not matter. Default 30.
   */
  refreshMargin?: number
  /**
   * The lock around each refresh. Default: in cross-tab mode the Web Locks API
   * (`navigator.locks`, lock `tessera-refresh`), else a best-effort `BroadcastChannel` lock;
   * without cross-tab, none (calls in this client still share one refresh).
   */
  lock?: RefreshLock
  /**
   * Share the session with the other tabs of this origin over `BroadcastChannel`: a refreshed
   * access token, a login and a sign-out. Default: `true` in cookie mode (the tabs share the
   * refresh cookie), `false` in body mode (each client has its own storage, unless you share it).
   */
  crossTab?: boolean
  /** The local time in milliseconds since the epoch. Default: `Date.now`. */
  now?: () => number
}

/** The options after defaults and checks. */
export interface ResolvedOptions {
  baseUrl: string
  tokenDelivery: TokenDelivery
  storage: RefreshTokenStorage | undefined
  fetch: FetchLike
  refreshMargin: number
  lock: RefreshLock | undefined
  crossTab: boolean
  now: () => number
}

function resolveBaseUrl(baseUrl: unknown): string {
  if (typeof baseUrl !== 'string' || baseUrl === '') throw new TypeError('baseUrl must be a non-empty string')
  const { location } = globalThis as { location?: { href: string } }
  let url: URL
  try {
    url = new URL(baseUrl, location?.href)
  } catch {
    throw new TypeError(
      `baseUrl must be an absolute URL (or, in a browser, relative to the page), got "${baseUrl}"`,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`baseUrl must be http or https, got "${baseUrl}"`)
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function'

export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('createClient needs an options object')
  const baseUrl = resolveBaseUrl(options.baseUrl)

  const tokenDelivery = options.tokenDelivery ?? (typeof document === 'undefined' ? 'body' : 'cookie')
  if (!TOKEN_DELIVERIES.includes(tokenDelivery)) {
    throw new TypeError(`tokenDelivery must be 'cookie' or 'body', got ${JSON.stringify(tokenDelivery)}`)
  }

  const { storage } = options
  if (storage !== undefined) {
    if (tokenDelivery === 'cookie') {
      throw new TypeError(
        "storage is for tokenDelivery 'body'; in cookie mode the refresh token stays in the cookie",
      )
    }
    if (!isFunction(storage.get) || !isFunction(storage.set) || !isFunction(storage.delete)) {
      throw new TypeError('storage must have get(), set(token) and delete()')
    }
  }

  const fetchImpl = options.fetch ?? globalThis.fetch
  if (!isFunction(fetchImpl)) throw new TypeError('no fetch: pass the fetch option')

  const refreshMargin = options.refreshMargin ?? 30
  if (typeof refreshMargin !== 'number' || !Number.isFinite(refreshMargin) || refreshMargin < 0) {
    throw new RangeError(`refreshMargin must be a number of seconds >= 0, got ${String(refreshMargin)}`)
  }

  if (options.lock !== undefined && !isFunction(options.lock.run))
    throw new TypeError('lock must have run(task)')
  if (options.now !== undefined && !isFunction(options.now)) throw new TypeError('now must be a function')
  if (options.crossTab !== undefined && typeof options.crossTab !== 'boolean') {
    throw new TypeError('crossTab must be a boolean')
  }

  return {
    baseUrl,
    tokenDelivery,
    storage,
    // called as a plain function: browsers refuse fetch called as a method of another object
    fetch: (input, init) => fetchImpl(input, init),
    refreshMargin,
    lock: options.lock,
    crossTab: options.crossTab ?? tokenDelivery === 'cookie',
    now: options.now ?? (() => Date.now()),
  }
}
