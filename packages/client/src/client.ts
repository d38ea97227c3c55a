import { type AccountActions, createAccountActions, expectAccepted } from './account.js'
import { createAuthorizedFetch } from './authorized-fetch.js'
import { type ClientOptions, resolveOptions } from './client-options.js'
import { type TabChannel, tabChannel } from './cross-tab.js'
import { errorFromResponse, TesseraClientError } from './errors.js'
import { badResponse, type FetchLike, jsonPost, readJson, send } from './http.js'
import { broadcastLock, findLockManager, noLock, type RefreshLock, webLock } from './lock.js'
import {
  asEnrolmentChallenge,
  asMfaChallenge,
  asRecoveryCodes,
  asTotpSetup,
  createMfaActions,
  type MfaActions,
  type MfaEnrollmentRequired,
  type MfaProof,
  type MfaRequired,
  proofBody,
  type StepUpProof,
} from './mfa.js'
import { asNewPasskey, createPasskeyActions, type PasskeyActions, readCeremony } from './passkeys.js'
import {
  browserPage,
  clearFragment,
  forgetPending,
  keepPending,
  newPkcePair,
  pageWithoutFragment,
  peekPending,
  readFragment,
  returnError,
} from './provider-redirect.js'
import {
  absoluteRedirect,
  createProviderActions,
  type ProviderActions,
  providerPath,
  type SignInWithOptions,
} from './providers.js'
import { createRefresher } from './refresh.js'
import { type AccessToken, createSessionState } from './session-state.js'
import { memoryStorage } from './storage.js'
import {
  asTokenResponse,
  type ClientEvent,
  type ClientState,
  isRecord,
  isSessionInfo,
  isUser,
  type SessionInfo,
  type TokenResponse,
  type User,
} from './types.js'
import { browserWebAuthn } from './webauthn.js'

export interface Credentials {
  email: string
  password: string
}

export interface Registration extends Credentials {
  /** Display name; at most 200 characters. */
  name?: string
}

/**
 * What `register()` resolves to:
 * - `signed-in`: the account exists and this client is signed in as `user` (201).
 * - `verification_pending`: the server requires email verification (202,
 *   `TESSERA_REQUIRE_EMAIL_VERIFICATION=true`): no session yet. The user follows the mailed link
 *   (`verifyEmail`), then calls `login()`; until then login is `EMAIL_NOT_VERIFIED`. The server
 *   answers this for a taken email too, so it says nothing about whether the account is new.
 */
export type RegisterResult = { status: 'signed-in'; user: User } | { status: 'verification_pending' }

/** The one-time token of a mailed magic link: the `token` query parameter of the page it opens. */
export interface MagicLinkToken {
  token: string
}

/**
 * What `login()` and `signInWithMagicLink()` resolve to:
 * - `signed-in`: this client is signed in as `user`.
 * - `mfa_required`: the password was right and the account has a second factor: no session yet.
 *   Ask for a code from one of `methods` and call `verifyMfa({ code })` (or `{ recoveryCode }`)
 *   within 5 minutes; see {@link MfaRequired}.
 * - `mfa_enrollment_required`: the user's role requires a second factor they have not set up: no
 *   session yet. Call `setupTotp()` and `confirmTotp(code)` within 15 minutes; the confirm signs
 *   in. See {@link MfaEnrollmentRequired}.
 */
export type LoginResult = { status: 'signed-in'; user: User } | MfaRequired | MfaEnrollmentRequired

/** A signed-in session against one Tessera server. Create it with {@link createClient}. */
export interface TesseraClient extends AccountActions, MfaActions, PasskeyActions, ProviderActions {
  /**
   * Creates an account and signs in: resolves to `{ status: 'signed-in', user }`, or to
   * `{ status: 'verification_pending' }` (no session, no event) when the server requires email
   * verification first; see {@link RegisterResult}.
   * Rejects with a {@link TesseraClientError}: `EMAIL_TAKEN` (409, only without required
   * verification), `VALIDATION_FAILED` (400, with `errors`), `WEAK_PASSWORD` (400),
   * `RATE_LIMITED` (429, `retryAfter`), `NETWORK_ERROR`, …
   */
  register(registration: Registration): Promise<RegisterResult>
  /**
   * Signs in; always opens a new session. Resolves to `{ status: 'signed-in', user }`, or to
   * `{ status: 'mfa_required', methods }` when the account has a second factor: then finish with
   * {@link TesseraClient.verifyMfa}. Rejects with `INVALID_CREDENTIALS` (401),
   * `EMAIL_NOT_VERIFIED` / `ACCOUNT_DISABLED` (403), `ACCOUNT_LOCKED` (423), `RATE_LIMITED` (429), …
   */
  login(credentials: Credentials): Promise<LoginResult>
  /**
   * Signs in with the `token` of a magic link (`POST /auth/magic-link/verify`; see
   * `requestMagicLink`), on the page the link opens; always opens a new session, and the server
   * counts the email as verified. Resolves like `login()`: `{ status: 'signed-in', user }`, or
   * `{ status: 'mfa_required', methods }` for an account with a second factor, finished with
   * {@link TesseraClient.verifyMfa}. Call it on a click, not on page load: mail scanners open links.
   * Rejects with `ONE_TIME_TOKEN_INVALID` (400: unknown, used or expired link; ask for a new one),
   * `ACCOUNT_DISABLED` (403), `NOT_FOUND` (404: magic links are off on the server), `RATE_LIMITED` (429), …
   */
  signInWithMagicLink(link: MagicLinkToken): Promise<LoginResult>
  /**
   * Signs in with a passkey alone, no email or password: the browser offers the passkeys it holds
   * for this server (`navigator.credentials.get` with discoverable credentials and user
   * verification), and the server opens a new session whose tokens claim `mfa`. Rejects with
   * `WEBAUTHN_UNAVAILABLE` (no WebAuthn here), `PASSKEY_CANCELLED` (the user dismissed the prompt),
   * `PASSKEY_INVALID` (401: a passkey the server does not know, or that did not verify),
   * `CHALLENGE_INVALID` (400: the prompt stayed open over 5 minutes; try again),
   * `ACCOUNT_DISABLED` (403), `RATE_LIMITED` (429), …
   */
  signInWithPasskey(): Promise<User>
  /**
   * Signs in with a provider (`listProviders()` gives their ids): makes this tab's PKCE pair, keeps
   * the verifier in sessionStorage, and sends the browser to Tessera's
   * `GET /auth/oauth/:id/start`, which goes on to the provider; resolves as the page starts to
   * leave. The provider sends the browser back through Tessera to `redirectTo`, whose page calls
   * {@link TesseraClient.completeSignIn}. Code mode (the default) suits any single-page app;
   * `mode: 'cookie'` only an app on Tessera's site (see {@link SignInWithOptions}). Browser only
   * (a TypeError elsewhere). Nothing is checked before the browser leaves: a `redirectTo` off the
   * server's `TESSERA_OAUTH_REDIRECTS` or an unknown provider is a problem page at Tessera.
   */
  signInWith(provider: string, options: SignInWithOptions): Promise<void>
  /**
   * On the page `signInWith` returned to: takes `#code=` or `#error=` out of the address bar
   * (`history.replaceState`) and exchanges the code with this tab's verifier
   * (`POST /auth/oauth/exchange`). Resolves like `login()`: `{ status: 'signed-in', user }`,
   * `mfa_required` (finish with {@link TesseraClient.verifyMfa}) or `mfa_enrollment_required`;
   * in cookie mode without a code, by one refresh with the cookie the callback set. Resolves to
   * `null` when this page is not the return of a sign-in started in this tab, so it may be called
   * on every load. Rejects with the `#error=` code: `ACCOUNT_EXISTS` (an account with this email
   * exists that the provider may not take over: sign in to it, then link), `PROVIDER_SIGN_IN_FAILED`
   * (cancelled or refused at the provider), `PROVIDER_EMAIL_MISSING`, `PROVIDER_UNAVAILABLE`
   * (retryable), `ACCOUNT_DISABLED`; or the exchange's: `ONE_TIME_TOKEN_INVALID` (the code was
   * used, is older than 60 s, or was made for another browser), `NOT_SIGNED_IN` (cookie mode, and
   * the refresh cookie did not arrive: the app is not on Tessera's site).
   */
  completeSignIn(): Promise<LoginResult | null>
  /**
   * Finishes a login (or a magic link) that answered `mfa_required` with a TOTP code, a recovery code, or a passkey
   * (`{ passkey: true }`: the browser asks for one of the user's passkeys) through
   * `POST /auth/mfa/verify` with the `mfaToken` the client kept, and signs in like `login()`.
   * Rejects with `MFA_CODE_INVALID` (401: wrong or replayed code; try again, the server gives up
   * after 5), `PASSKEY_INVALID` (401: the passkey did not verify), `PASSKEY_CANCELLED`,
   * `MFA_TOKEN_INVALID` (401: expired, spent or killed, or no login waiting: call `login()`
   * again), `ACCOUNT_LOCKED` (423), `RATE_LIMITED` (429), …
   */
  verifyMfa(proof: MfaProof): Promise<User>
  /**
   * Proves again who the user is, for an API that answered `STEP_UP_REQUIRED`
   * (`POST /auth/mfa/step-up`): with a second factor (`{ code }`, `{ recoveryCode }`,
   * `{ passkey: true }`), which meets `acrValues` and `maxAge`, or with `{ password }` (only
   * `maxAge`; for users without a factor).
   * The same session gets a new access token with `auth_time` now; retry the call afterwards.
   * Rejects with `MFA_CODE_INVALID`, `PASSKEY_INVALID`, `PASSKEY_CANCELLED`, `INVALID_CREDENTIALS`
   * (wrong password), `NOT_SIGNED_IN`, …
   */
  stepUp(proof: StepUpProof): Promise<void>
  /**
   * Ends this session on the server (`POST /auth/logout`) and forgets the tokens. The client is
   * signed out afterwards even if the request failed; it then rejects, because the server-side
   * session (and in cookie mode the cookie) may have survived.
   */
  logout(): Promise<void>
  /** Ends every session of the user (`POST /auth/logout-all`); signed out afterwards, as with `logout()`. */
  logoutAll(): Promise<void>
  /** The signed-in user from `GET /auth/me` (also refreshes {@link TesseraClient.user}). */
  me(): Promise<User>
  /**
   * Changes the signed-in user's name (`PATCH /auth/me`; `null` or `''` clears it); resolves to the
   * user as the server now has it (also {@link TesseraClient.user}).
   * Rejects with `VALIDATION_FAILED` (400), `NOT_SIGNED_IN`, …
   */
  updateProfile(input: { name: string | null }): Promise<User>
  /**
   * Deletes the signed-in user's account for good (`DELETE /auth/me`): send the `password`, or
   * leave it out right after a sign-in or `stepUp`. The client is signed out afterwards (reason
   * `logout`). Rejects with `INVALID_CREDENTIALS` (401, wrong password: nothing deleted, still
   * signed in), `STEP_UP_REQUIRED` (401), `NOT_SIGNED_IN`, …
   */
  deleteAccount(input?: { password?: string }): Promise<void>
  /** The user's live sessions (`GET /auth/sessions`). */
  sessions(): Promise<SessionInfo[]>
  /**
   * Brings a session back after a page load or restart: one refresh, by the refresh cookie or the
   * stored refresh token. Resolves to the user, or `null` when there is no session to restore.
   * Rejects with a retryable `REFRESH_FAILED` when the server could not be asked.
   */
  restore(): Promise<User | null>
  /**
   * `fetch` for your own API: adds `Authorization: Bearer <access token>` (unless the request
   * already has an Authorization header: then it is sent as it is), refreshes first when the
   * token expires within `refreshMargin`, and when the answer is a 401 with problem code
   * `TOKEN_EXPIRED` or `TOKEN_REVOKED` refreshes once and retries once (a revoked session's
   * refresh fails: `SESSION_EXPIRED`, signed out). A 401 asking for a step-up (problem code
   * `STEP_UP_REQUIRED`, or RFC 9470's `insufficient_user_authentication` challenge) rejects with
   * `STEP_UP_REQUIRED`, its `stepUp` holding the challenge's `acrValues` and `maxAge`, and is never
   * refreshed. Any other answer, including another 401, is returned as it is. A `ReadableStream` body is never retried (the 401 is returned and the
   * next call refreshes first); a `Request` with a body is cloned before the first attempt.
   * Rejects with `NOT_SIGNED_IN`, `SESSION_EXPIRED` or `REFRESH_FAILED` when no token can be had,
   * and with fetch's own errors when your API cannot be reached.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  /**
   * A fresh access token (refreshing first if needed), for transports `fetch` does not cover
   * (WebSocket, EventSource). `null` when signed out. Rejects with `REFRESH_FAILED`.
   */
  getAccessToken(): Promise<string | null>
  /** Calls `listener` on every change to signed-in or signed-out; returns an unsubscribe. */
  onChange(listener: (event: ClientEvent) => void): () => void
  readonly state: ClientState
  /** The signed-in user as last seen, or `null`. */
  readonly user: User | null
  /** Stops listening to other tabs and releases the channels. The client is unusable across tabs after. */
  close(): void
}

/**
 * Creates a client for the Tessera server at `options.baseUrl`. In a browser the defaults keep
 * the access token in memory only and the refresh token in the server's httpOnly cookie; nothing
 * is written to localStorage. See {@link ClientOptions} for the rest.
 */
export function createClient(options: ClientOptions): TesseraClient {
  const config = resolveOptions(options)
  const { baseUrl, now } = config
  const cookie = config.tokenDelivery === 'cookie'
  const storage = config.storage ?? memoryStorage()
  const url = (path: string) => `${baseUrl}${path}`
  const fetchImpl: FetchLike = config.fetch

  const session = createSessionState({ now, refreshMargin: config.refreshMargin })
  const channel: TabChannel | undefined = config.crossTab ? tabChannel(`tessera:${baseUrl}`) : undefined

  let ownedLock: { close(): void } | undefined
  function defaultLock(): RefreshLock {
    if (!config.crossTab) return noLock
    const locks = findLockManager()
    if (locks) return webLock(locks)
    if (typeof BroadcastChannel !== 'function') return noLock
    const lock = broadcastLock()
    ownedLock = lock
    return lock
  }
  const lock = config.lock ?? defaultLock()

  const refresher = createRefresher({
    fetch: fetchImpl,
    url: url('/auth/refresh'),
    delivery: config.tokenDelivery,
    storage,
    lock,
    session,
    channel,
    now,
  })

  async function mayHaveSession(): Promise<boolean> {
    if (cookie) return session.state !== 'signed-out'
    return (await storage.get()) !== null
  }

  const authorized = createAuthorizedFetch({ fetch: fetchImpl, session, refresher, mayHaveSession })

  const shareSession = (access: AccessToken) =>
    channel?.post({
      type: 'session',
      accessToken: access.value,
      expiresAt: access.expiresAt,
      lifetime: access.lifetime,
      user: session.user,
    })

  const unsubscribeChannel = channel?.subscribe((message) => {
    if (message.type === 'session') {
      const { accessToken: value, expiresAt, lifetime, user } = message
      session.adopt({ value, expiresAt, lifetime }, user)
    } else if (message.type === 'signed-out' && session.state !== 'signed-out') {
      session.signOut('other-tab')
    }
  })

  // the mfaToken of a login that answered mfa_required: single purpose, never shown to the app
  let pendingMfaToken: string | undefined
  // the enrolment token of a login that answered mfa_enrollment_required (TOTP setup and confirm only)
  let pendingEnrolmentToken: string | undefined

  /** Takes a token response as the session (the refresh token to storage in body mode). */
  async function acceptTokens(tokens: TokenResponse, receivedAt: number) {
    if (!cookie && tokens.refreshToken !== undefined) await storage.set(tokens.refreshToken)
    shareSession(session.accept(tokens, receivedAt))
    return tokens
  }

  /** Register, login or a second factor: one POST, then the tokens become the session. */
  async function signIn(path: string, body: Record<string, unknown>): Promise<RegisterResult | LoginResult> {
    // a refresh in flight would otherwise store the old session's tokens over the new ones
    await refresher.idle()
    const response = await send(
      fetchImpl,
      url(path),
      jsonPost({ ...body, tokenDelivery: config.tokenDelivery }, cookie),
    )
    if (!response.ok) throw await errorFromResponse(response, now())
    // registration with required email verification: no session yet
    if (response.status === 202) {
      await expectAccepted(response, 'verification_pending', now())
      return { status: 'verification_pending' }
    }
    const receivedAt = now()
    const json = await readJson(response)
    const challenge = asMfaChallenge(json)
    if (challenge) {
      pendingMfaToken = challenge.mfaToken
      return { status: 'mfa_required', methods: challenge.methods }
    }
    const enrolment = asEnrolmentChallenge(json)
    if (enrolment) {
      pendingEnrolmentToken = enrolment
      return { status: 'mfa_enrollment_required' }
    }
    const tokens = asTokenResponse(json)
    if (!tokens?.user || (!cookie && tokens.refreshToken === undefined)) {
      throw badResponse(response, 'a Tessera token response')
    }
    pendingMfaToken = undefined
    pendingEnrolmentToken = undefined
    await acceptTokens(tokens, receivedAt)
    return { status: 'signed-in', user: tokens.user }
  }

  async function forget() {
    pendingMfaToken = undefined
    pendingEnrolmentToken = undefined
    if (!cookie) await storage.delete()
    session.signOut('logout')
    channel?.post({ type: 'signed-out' })
  }

  async function expectOk(response: Response): Promise<Response> {
    if (!response.ok) throw await errorFromResponse(response, now())
    return response
  }

  async function me(): Promise<User> {
    const response = await expectOk(
      await send(authorized.fetch, url('/auth/me'), { headers: { accept: 'application/json' } }),
    )
    const body = await readJson(response)
    if (!isRecord(body) || !isUser(body.user)) throw badResponse(response, '{ user }')
    if (session.state === 'signed-in') session.setUser(body.user)
    return body.user
  }

  const account = createAccountActions({
    fetch: fetchImpl,
    authorizedFetch: authorized.fetch,
    url,
    cookie,
    now,
  })

  const mfaActions = createMfaActions({ authorizedFetch: authorized.fetch, url, cookie, now })

  /** A POST to an enrolment route with the enrolment token of `mfa_enrollment_required`. */
  const enrolmentPost = (enrolmentToken: string, path: string, body: unknown) => {
    const init = jsonPost(body, cookie)
    return send(fetchImpl, url(path), {
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${enrolmentToken}` },
    })
  }

  /** Asks the browser for one of the user's passkeys, for the login waiting on `mfaToken`. */
  async function passkeyForSignIn(mfaToken: string) {
    const webauthn = browserWebAuthn()
    const started = await expectOk(
      await send(fetchImpl, url('/auth/mfa/passkey/options'), jsonPost({ mfaToken }, cookie)),
    )
    const { challengeId, options } = await readCeremony(started)
    return { challengeId, passkey: await webauthn.get(options) }
  }

  /** Asks the browser for one of the signed-in user's passkeys, for a step-up. */
  async function passkeyForStepUp() {
    const webauthn = browserWebAuthn()
    const started = await expectOk(
      await send(authorized.fetch, url('/auth/mfa/passkey/options'), jsonPost({}, cookie)),
    )
    const { challengeId, options } = await readCeremony(started)
    return { challengeId, passkey: await webauthn.get(options) }
  }

  const passkeyActions = createPasskeyActions({
    authorizedFetch: authorized.fetch,
    url,
    cookie,
    now,
    webauthn: browserWebAuthn,
  })

  /**
   * The last step of enrolling with the enrolment token (a TOTP confirm, a passkey registration):
   * its answer is `what` and the session, taken as a sign-in. A dead enrolment token (15 minutes,
   * 5 wrong codes) is forgotten: only a new login helps.
   */
  async function enrolAndSignIn<T>(
    enrolmentToken: string,
    path: string,
    body: Record<string, unknown>,
    read: (json: unknown) => T | undefined,
    what: string,
  ): Promise<T> {
    // a refresh in flight would otherwise store an old session's tokens over the new ones
    await refresher.idle()
    const response = await enrolmentPost(enrolmentToken, path, {
      ...body,
      tokenDelivery: config.tokenDelivery,
    })
    if (!response.ok) {
      const error = await errorFromResponse(response, now())
      if (error.code === 'MFA_TOKEN_INVALID' && pendingEnrolmentToken === enrolmentToken) {
        pendingEnrolmentToken = undefined
      }
      throw error
    }
    const receivedAt = now()
    const json = await readJson(response)
    const value = read(json)
    const tokens = asTokenResponse(json)
    if (value === undefined || !tokens?.user || (!cookie && tokens.refreshToken === undefined)) {
      throw badResponse(response, `${what} and a Tessera token response`)
    }
    pendingEnrolmentToken = undefined
    await acceptTokens(tokens, receivedAt)
    return value
  }

  const isSessionGone = (error: unknown) =>
    error instanceof TesseraClientError &&
    (error.code === 'SESSION_EXPIRED' || error.code === 'NOT_SIGNED_IN')

  async function restore(): Promise<User | null> {
    const access = session.access
    if (access && session.isFresh(access)) return session.user ?? (await me())
    try {
      await refresher.refresh(access?.value ?? null)
    } catch (error) {
      if (isSessionGone(error)) return null
      throw error
    }
    return session.user ?? (await me())
  }

  const providerActions = createProviderActions({
    fetch: fetchImpl,
    authorizedFetch: authorized.fetch,
    baseUrl,
    url,
    now,
    page: browserPage,
  })

  return {
    async register({ email, password, name }) {
      const result = await signIn(
        '/auth/register',
        name === undefined ? { email, password } : { email, password, name },
      )
      // a new account has no second factor yet
      if (result.status === 'mfa_required' || result.status === 'mfa_enrollment_required') {
        throw new TesseraClientError('BAD_RESPONSE', { detail: 'Registration asked for a second factor.' })
      }
      return result
    },

    async login({ email, password }) {
      // a new login abandons one that waited for its second factor
      pendingMfaToken = undefined
      pendingEnrolmentToken = undefined
      const result = await signIn('/auth/login', { email, password })
      if (result.status === 'verification_pending') {
        throw new TesseraClientError('BAD_RESPONSE', {
          status: 202,
          detail: 'Login answered without a session.',
        })
      }
      return result
    },

    async signInWithMagicLink({ token }) {
      // a new sign-in abandons one that waited for its second factor
      pendingMfaToken = undefined
      pendingEnrolmentToken = undefined
      const result = await signIn('/auth/magic-link/verify', { token })
      if (result.status === 'verification_pending') {
        throw new TesseraClientError('BAD_RESPONSE', {
          status: 202,
          detail: 'The magic link answered without a session.',
        })
      }
      return result
    },

    async signInWithPasskey() {
      const webauthn = browserWebAuthn()
      // a new sign-in abandons one that waited for its second factor
      pendingMfaToken = undefined
      pendingEnrolmentToken = undefined
      const started = await expectOk(
        await send(fetchImpl, url('/auth/passkeys/login/options'), jsonPost({}, cookie)),
      )
      const { challengeId, options } = await readCeremony(started)
      const response = await webauthn.get(options)
      const result = await signIn('/auth/passkeys/login/verify', { challengeId, response })
      if (result.status !== 'signed-in') {
        throw new TesseraClientError('BAD_RESPONSE', {
          detail: 'The passkey sign-in answered without a session.',
        })
      }
      return result.user
    },

    async signInWith(provider, { redirectTo, mode = 'code' }) {
      if (mode !== 'code' && mode !== 'cookie') {
        throw new TypeError(`mode must be 'code' or 'cookie', got ${JSON.stringify(mode)}`)
      }
      // in body mode nothing would read the refresh cookie the callback sets
      if (mode === 'cookie' && !cookie) throw new TypeError("mode 'cookie' needs tokenDelivery 'cookie'")
      const page = browserPage()
      // a challenge in cookie mode too: a code (second factor) is then bound to this tab
      const { codeVerifier, codeChallenge } = await newPkcePair()
      const returnTo = absoluteRedirect(page, redirectTo)
      keepPending(page, baseUrl, { purpose: 'sign-in', codeVerifier, mode, returnTo })
      const query = new URLSearchParams({ redirectTo: returnTo, mode, codeChallenge })
      page.location.assign(url(`${providerPath(provider, 'start')}?${query}`))
    },

    async completeSignIn() {
      const page = browserPage()
      const pending = peekPending(page, baseUrl)
      if (pending?.purpose !== 'sign-in') return null
      const fragment = readFragment(page)
      if (fragment === undefined) {
        // cookie mode returns without a fragment: only to its own page (not, say, the sign-in
        // page the back button leads to from the provider)
        if (pending.mode !== 'cookie' || pageWithoutFragment(page) !== pending.returnTo) return null
        forgetPending(page, baseUrl)
        const user = await restore()
        if (!user) {
          throw new TesseraClientError('NOT_SIGNED_IN', {
            detail: 'The provider sign-in returned, but no refresh cookie came with it.',
          })
        }
        return { status: 'signed-in', user }
      }
      // once: a reload or a second call finds nothing to complete, and the code leaves history
      forgetPending(page, baseUrl)
      clearFragment(page)
      if ('error' in fragment) throw returnError(fragment.error)
      // a new sign-in abandons one that waited for its second factor
      pendingMfaToken = undefined
      pendingEnrolmentToken = undefined
      const result = await signIn('/auth/oauth/exchange', {
        code: fragment.code,
        codeVerifier: pending.codeVerifier,
      })
      if (result.status === 'verification_pending') {
        throw new TesseraClientError('BAD_RESPONSE', {
          status: 202,
          detail: 'The exchange answered without a session.',
        })
      }
      return result
    },

    async verifyMfa(proof) {
      const mfaToken = pendingMfaToken
      if (mfaToken === undefined) {
        throw new TesseraClientError('MFA_TOKEN_INVALID', {
          detail: 'No login is waiting for a second factor; call login() first.',
        })
      }
      let result: RegisterResult | LoginResult
      try {
        const body = 'passkey' in proof ? await passkeyForSignIn(mfaToken) : proofBody(proof)
        result = await signIn('/auth/mfa/verify', { mfaToken, ...body })
      } catch (error) {
        // a dead mfaToken (expired, spent, 5 wrong codes) cannot be retried: only a new login helps
        if (error instanceof TesseraClientError && error.code === 'MFA_TOKEN_INVALID') {
          if (pendingMfaToken === mfaToken) pendingMfaToken = undefined
        }
        throw error
      }
      if (result.status !== 'signed-in') {
        throw new TesseraClientError('BAD_RESPONSE', {
          detail: 'The second factor answered without a session.',
        })
      }
      return result.user
    },

    async stepUp(proof) {
      // a refresh in flight would otherwise put a token with the old auth_time over the new one
      await refresher.idle()
      const body = 'passkey' in proof ? await passkeyForStepUp() : proofBody(proof)
      const response = await expectOk(
        await send(authorized.fetch, url('/auth/mfa/step-up'), jsonPost(body, cookie)),
      )
      const receivedAt = now()
      const tokens = asTokenResponse(await readJson(response))
      if (!tokens) throw badResponse(response, 'a Tessera token response')
      await acceptTokens(tokens, receivedAt)
    },

    async logout() {
      await refresher.idle()
      try {
        const refreshToken = cookie ? null : await storage.get()
        // body mode without a stored token: there is no server session to end
        if (cookie || refreshToken !== null) {
          const body = refreshToken === null ? {} : { refreshToken }
          await expectOk(await send(fetchImpl, url('/auth/logout'), jsonPost(body, cookie)))
        }
      } finally {
        await forget()
      }
    },

    async logoutAll() {
      try {
        // in cookie mode the answer clears the refresh cookie, which needs credentials
        await expectOk(
          await send(
            authorized.fetch,
            url('/auth/logout-all'),
            cookie ? { method: 'POST', credentials: 'include' } : { method: 'POST' },
          ),
        )
      } finally {
        await refresher.idle()
        await forget()
      }
    },

    me,

    async updateProfile({ name }) {
      const init = jsonPost({ name }, cookie)
      const response = await expectOk(
        await send(authorized.fetch, url('/auth/me'), { ...init, method: 'PATCH' }),
      )
      const body = await readJson(response)
      if (!isRecord(body) || !isUser(body.user)) throw badResponse(response, '{ user }')
      if (session.state === 'signed-in') session.setUser(body.user)
      return body.user
    },

    async deleteAccount(input = {}) {
      const init = jsonPost(input.password === undefined ? {} : { password: input.password }, cookie)
      const response = await send(authorized.fetch, url('/auth/me'), { ...init, method: 'DELETE' })
      if (!response.ok) throw await errorFromResponse(response, now())
      if (response.status !== 204) throw badResponse(response, 'the 204 Tessera answers here')
      await refresher.idle()
      await forget()
    },

    ...account,

    ...mfaActions,

    ...passkeyActions,

    ...providerActions,

    async setupTotp() {
      const enrolmentToken = pendingEnrolmentToken
      if (enrolmentToken === undefined) return mfaActions.setupTotp()
      const response = await expectOk(await enrolmentPost(enrolmentToken, '/auth/mfa/totp/setup', {}))
      const setup = asTotpSetup(await readJson(response))
      if (!setup) throw badResponse(response, '{ secret, otpauthUri, qrSvg }')
      return setup
    },

    async confirmTotp(code) {
      const enrolmentToken = pendingEnrolmentToken
      if (enrolmentToken === undefined) return mfaActions.confirmTotp(code)
      const recoveryCodes = await enrolAndSignIn(
        enrolmentToken,
        '/auth/mfa/totp/confirm',
        { code },
        asRecoveryCodes,
        '{ recoveryCodes }',
      )
      return { recoveryCodes }
    },

    async registerPasskey(options = {}) {
      const enrolmentToken = pendingEnrolmentToken
      if (enrolmentToken === undefined) return passkeyActions.registerPasskey(options)
      const webauthn = browserWebAuthn()
      const started = await expectOk(
        await enrolmentPost(enrolmentToken, '/auth/passkeys/register/options', {}),
      )
      const { challengeId, options: creation } = await readCeremony(started)
      const response = await webauthn.create(creation)
      return enrolAndSignIn(
        enrolmentToken,
        '/auth/passkeys/register/verify',
        { challengeId, response, ...(options.name === undefined ? {} : { name: options.name }) },
        asNewPasskey,
        '{ passkey }',
      )
    },

    async sessions() {
      const response = await expectOk(
        await send(authorized.fetch, url('/auth/sessions'), {
          headers: { accept: 'application/json' },
        }),
      )
      const body = await readJson(response)
      if (!isRecord(body) || !Array.isArray(body.sessions) || !body.sessions.every(isSessionInfo)) {
        throw badResponse(response, '{ sessions }')
      }
      return body.sessions
    },

    restore,

    fetch: authorized.fetch,

    async getAccessToken() {
      try {
        return await authorized.token()
      } catch (error) {
        if (isSessionGone(error)) return null
        throw error
      }
    },

    onChange: (listener) => session.onChange(listener),

    get state() {
      return session.state
    },

    get user() {
      return session.user
    },

    close() {
      unsubscribeChannel?.()
      channel?.close()
      ownedLock?.close()
    },
  }
}
