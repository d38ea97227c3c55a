import { expectStatus } from './account.js'
import { badResponse, type FetchLike, jsonPost, readJson, send } from './http.js'
import {
  type BrowserPage,
  clearFragment,
  forgetPending,
  keepPending,
  newPkcePair,
  peekPending,
  readFragment,
  returnError,
} from './provider-redirect.js'
import { isRecord } from './types.js'

/** A provider users may sign in with (`GET /auth/oauth/providers`). */
export interface ProviderInfo {
  /** The id in the server's `TESSERA_OAUTH_PROVIDERS`, e.g. `google`: what `signInWith` takes. */
  id: string
  /** What the button says, e.g. `Google`. */
  name: string
}

/** One of the signed-in user's provider identities (`GET /auth/identities`). */
export interface IdentityInfo {
  id: string
  /** The provider's id, e.g. `google`. */
  provider: string
  /** The provider's email at the last sign-in, if it gave one. */
  email: string | null
  /** ISO 8601. */
  linkedAt: string
}

/** How `signInWith` comes back. */
export interface SignInWithOptions {
  /**
   * The page the browser returns to, which calls `completeSignIn()`; absolute, or relative to the
   * current page. It must be on the server's `TESSERA_OAUTH_REDIRECTS`, and has no fragment.
   */
  redirectTo: string
  /**
   * `'code'` (default): the return URL carries a one-time code that `completeSignIn()` exchanges
   * with this tab's PKCE verifier; the session is then delivered like a login's (the refresh
   * cookie, or the body in `tokenDelivery: 'body'`). Works whether or not the app and Tessera
   * share a site. `'cookie'`: Tessera's callback sets the refresh cookie itself and returns
   * without a code (an account with a second factor still returns with one); only for
   * `tokenDelivery: 'cookie'`, where the app and Tessera share a site.
   */
  mode?: 'code' | 'cookie'
}

/** Where linking comes back. */
export interface LinkProviderOptions {
  /** The page that calls `completeLink()`; on `TESSERA_OAUTH_REDIRECTS`, as for `signInWith`. */
  redirectTo: string
}

/** Provider identities of the signed-in user, and the list of providers. */
export interface ProviderActions {
  /** The providers the server offers (`GET /auth/oauth/providers`); needs no session. */
  listProviders(): Promise<ProviderInfo[]>
  /** The signed-in user's provider identities, oldest first (`GET /auth/identities`). */
  listIdentities(): Promise<IdentityInfo[]>
  /**
   * Unlinks one identity (`DELETE /auth/identities/:id`); needs a sign-in in the last 5 minutes
   * (`STEP_UP_REQUIRED`). `LAST_SIGN_IN_METHOD` (409) when nothing else would sign in to the
   * account; `NOT_FOUND` for an id that is not one of the user's.
   */
  unlinkIdentity(id: string): Promise<void>
  /**
   * Links a provider to the signed-in account: asks Tessera for the provider's URL
   * (`POST /auth/oauth/:id/link` with this tab's PKCE challenge; Tessera sets its state cookie
   * with the answer) and sends the browser there. Resolves as the page starts to leave. The
   * return page calls `completeLink()`. Needs a sign-in in the last 5 minutes
   * (`STEP_UP_REQUIRED`: step up, then call again); rejects with `REDIRECT_NOT_ALLOWED` (400),
   * `NOT_FOUND` for an unknown provider, `PROVIDER_UNAVAILABLE` (502). Browser only; Tessera must
   * be on the app's site, since its state cookie is set by this cross-origin request.
   */
  linkProvider(provider: string, options: LinkProviderOptions): Promise<void>
  /**
   * On the page `linkProvider` returned to: takes `#code=` (or `#error=`) out of the address bar
   * and links the identity (`POST /auth/oauth/link/complete` with this tab's verifier). Resolves
   * to the new identity, or to `null` when this page is not the return of a link started in this
   * tab (so it may be called on every load). Rejects with the `#error=` code
   * (`ACCOUNT_EXISTS`: the identity belongs to another account, `PROVIDER_SIGN_IN_FAILED`, …) or
   * the exchange's (`ONE_TIME_TOKEN_INVALID`: used, older than 60 s, or another user's code).
   * Needs the session back after the page load: `restore()` in cookie mode does it.
   */
  completeLink(): Promise<IdentityInfo | null>
}

export interface ProviderDeps {
  fetch: FetchLike
  authorizedFetch: FetchLike
  baseUrl: string
  url(path: string): string
  now(): number
  /** The browser page, asked for when a redirect starts or returns. */
  page(): BrowserPage
}

const isProviderInfo = (value: unknown): value is ProviderInfo =>
  isRecord(value) && typeof value.id === 'string' && typeof value.name === 'string'

export const isIdentityInfo = (value: unknown): value is IdentityInfo =>
  isRecord(value) &&
  typeof value.id === 'string' &&
  typeof value.provider === 'string' &&
  (value.email === null || typeof value.email === 'string') &&
  typeof value.linkedAt === 'string'

/** `redirectTo` as an absolute URL (relative ones against the page). */
export const absoluteRedirect = (page: BrowserPage, redirectTo: string): string =>
  new URL(redirectTo, page.location.href).href

export const providerPath = (provider: string, action: string): string =>
  `/auth/oauth/${encodeURIComponent(provider)}/${action}`

export function createProviderActions(deps: ProviderDeps): ProviderActions {
  const getJson = (fetch: FetchLike, path: string) =>
    send(fetch, deps.url(path), { headers: { accept: 'application/json' } })

  return {
    async listProviders() {
      const response = await expectStatus(await getJson(deps.fetch, '/auth/oauth/providers'), 200, deps.now())
      const body = await readJson(response)
      if (!isRecord(body) || !Array.isArray(body.providers) || !body.providers.every(isProviderInfo)) {
        throw badResponse(response, '{ providers }')
      }
      return body.providers.map(({ id, name }) => ({ id, name }))
    },

    async listIdentities() {
      const response = await expectStatus(
        await getJson(deps.authorizedFetch, '/auth/identities'),
        200,
        deps.now(),
      )
      const body = await readJson(response)
      if (!isRecord(body) || !Array.isArray(body.identities) || !body.identities.every(isIdentityInfo)) {
        throw badResponse(response, '{ identities }')
      }
      return body.identities
    },

    async unlinkIdentity(id) {
      await expectStatus(
        await send(deps.authorizedFetch, deps.url(`/auth/identities/${encodeURIComponent(id)}`), {
          method: 'DELETE',
        }),
        204,
        deps.now(),
      )
    },

    async linkProvider(provider, { redirectTo }) {
      const page = deps.page()
      const { codeVerifier, codeChallenge } = await newPkcePair()
      const returnTo = absoluteRedirect(page, redirectTo)
      // credentials: the answer sets Tessera's state cookie, which the callback checks
      const response = await expectStatus(
        await send(
          deps.authorizedFetch,
          deps.url(providerPath(provider, 'link')),
          jsonPost({ redirectTo: returnTo, codeChallenge }, true),
        ),
        200,
        deps.now(),
      )
      const body = await readJson(response)
      if (!isRecord(body) || typeof body.url !== 'string') throw badResponse(response, '{ url }')
      keepPending(page, deps.baseUrl, { purpose: 'link', codeVerifier, mode: 'code', returnTo })
      page.location.assign(body.url)
    },

    async completeLink() {
      const page = deps.page()
      const pending = peekPending(page, deps.baseUrl)
      const fragment = readFragment(page)
      if (pending?.purpose !== 'link' || fragment === undefined) return null
      // once: a reload or a second call finds nothing to complete
      forgetPending(page, deps.baseUrl)
      clearFragment(page)
      if ('error' in fragment) throw returnError(fragment.error)
      const response = await expectStatus(
        await send(
          deps.authorizedFetch,
          deps.url('/auth/oauth/link/complete'),
          jsonPost({ code: fragment.code, codeVerifier: pending.codeVerifier }, false),
        ),
        200,
        deps.now(),
      )
      const body = await readJson(response)
      if (!isRecord(body) || !isIdentityInfo(body.identity)) throw badResponse(response, '{ identity }')
      return body.identity
    },
  }
}
