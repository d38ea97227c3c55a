import { randomUUID, timingSafeEqual } from 'node:crypto'
import * as oidc from 'openid-client'
import type { OAuthProviderConfig } from '../../config.js'
import { TesseraError } from '../../errors.js'
import type { UserRecord } from '../../store/records.js'
import type { ClientContext, FlowDeps } from '../deps.js'
import { type IssuedTokens, openSignedInSession } from '../issued-tokens.js'
import { mustEnrol } from '../mfa/enrolment.js'
import { hasSecondFactor } from '../mfa/second-factor.js'
import { newOneTimeToken } from '../one-time-token.js'
import { AMR_PROVIDER, signedInWith } from '../sign-in-methods.js'
import { githubClaims } from './github-identity.js'
import { accountForIdentity, type ProviderClaims, providerClaims } from './provider-account.js'
import type { ProviderDirectory } from './provider-directory.js'
import { isAllowedRedirect } from './redirect-target.js'
import { SIGN_IN_STATE_TTL, type SignInMode, type SignInState } from './sign-in-state.js'

/** Seconds the one-time code of a provider sign-in may be exchanged. */
export const PROVIDER_CODE_TTL = 60

/** The S256 shape (RFC 7636 §4.2): 43 base64url characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/

export type ProviderSignInDeps = Pick<
  FlowDeps,
  'stores' | 'keyRing' | 'events' | 'clock' | 'config' | 'limits'
> & { providers: ProviderDirectory }

/** The callback URL registered at the provider. */
export const callbackUrl = (publicUrl: string, providerId: string): string =>
  `${publicUrl}/auth/oauth/${providerId}/callback`

/**
 * Starts a sign-in: the provider's authorization URL (PKCE S256, `state`, `nonce`) and the state
 * the callback checks. A `redirectTo` off the allow-list is refused before anything is sent.
 */
export async function startProviderSignIn(
  deps: Pick<ProviderSignInDeps, 'providers' | 'clock' | 'config'>,
  input: {
    providerId: string
    redirectTo: string
    mode: SignInMode
    codeChallenge: string | undefined
    /** `link`: the signed-in user. */
    userId?: string
  },
): Promise<{ url: string; state: SignInState }> {
  const provider = deps.providers.get(input.providerId)
  if (!isAllowedRedirect(deps.config.oauthRedirects, input.redirectTo)) {
    throw new TesseraError('REDIRECT_NOT_ALLOWED')
  }
  if (input.codeChallenge !== undefined && !S256_CHALLENGE.test(input.codeChallenge)) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'codeChallenge', message: 'must be an S256 challenge (43 base64url characters)' }],
    })
  }
  if (input.mode !== 'cookie' && input.codeChallenge === undefined) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'codeChallenge', message: 'is required in code mode' }],
    })
  }
  const configuration = await deps.providers.discover(provider)
  const codeVerifier = oidc.randomPKCECodeVerifier()
  const state: SignInState = {
    provider: provider.id,
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
    codeVerifier,
    redirectTo: input.redirectTo,
    mode: input.mode,
    codeChallenge: input.codeChallenge ?? null,
    userId: input.mode === 'link' ? (input.userId ?? null) : null,
    expiresAt: deps.clock.now().getTime() + SIGN_IN_STATE_TTL * 1000,
  }
  const url = oidc.buildAuthorizationUrl(configuration, {
    redirect_uri: callbackUrl(deps.config.publicUrl, provider.id),
    scope: provider.scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state: state.state,
    // a nonce binds an ID token, which plain OAuth 2 (GitHub) has not
    ...(provider.protocol === 'oidc' ? { nonce: state.nonce } : {}),
    ...(provider.responseMode === 'form_post' ? { response_mode: 'form_post' } : {}),
  })
  deps.providers.countSignIn(provider, 'started')
  return { url: url.href, state }
}

/** Whether the callback's `state` parameter is the one sealed in the browser's cookie. */
export function stateMatches(expected: SignInState, given: string | undefined): boolean {
  if (given === undefined) return false
  const a = Buffer.from(expected.state)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}

export type CallbackOutcome =
  | { kind: 'signed-in'; tokens: IssuedTokens }
  /** A one-time code for the exchange, bound to `codeChallenge`; `codeVerifier` when Tessera made the pair. */
  | { kind: 'code'; code: string; codeVerifier: string | null }

/**
 * Finishes a sign-in at the provider's callback, for a state the caller opened and matched:
 * openid-client redeems the code with the PKCE verifier and validates the ID token (issuer,
 * audience, signature, expiry, nonce). Cookie mode opens a session at once, unless the account
 * needs a second factor (or must enrol one), which is then finished through a one-time code, as in
 * code mode. Throws a TesseraError for the return URL's `#error=`.
 */
export async function completeProviderSignIn(
  deps: ProviderSignInDeps,
  state: SignInState,
  currentUrl: URL,
  context: ClientContext,
): Promise<CallbackOutcome> {
  const provider = deps.providers.get(state.provider)
  if (currentUrl.searchParams.has('error')) {
    // the user cancelled, or the provider refused: said by the provider, not by a token
    throw failed(deps, provider, context, `provider_error:${currentUrl.searchParams.get('error')}`)
  }
  let claims: ProviderClaims
  try {
    claims = await providerIdentity(deps, provider, state, currentUrl)
  } catch (error) {
    if (error instanceof TesseraError) {
      if (error.code === 'PROVIDER_SIGN_IN_FAILED') failed(deps, provider, context, error.reason ?? 'refused')
      throw error
    }
    // a refused answer or ID token (openid-client's checks) versus a provider out of reach
    if (isRefusal(error)) {
      throw failed(deps, provider, context, errorCode(error), error)
    }
    throw new TesseraError('PROVIDER_UNAVAILABLE', { cause: error })
  }
  const now = deps.clock.now()
  if (state.mode === 'link')
    return { kind: 'code', code: await linkCode(deps, provider, state, claims, now), codeVerifier: null }
  let account: Awaited<ReturnType<typeof accountForIdentity>>
  try {
    account = await deps.stores.transaction((tx) => accountForIdentity(tx, provider, claims, now))
  } catch (error) {
    if (error instanceof TesseraError) {
      deps.events.record({
        type: 'provider_sign_in_failed',
        ...context,
        detail: { provider: provider.id, reason: error.code },
      })
    }
    throw error
  }
  const { user } = account
  if (account.kind !== 'known') {
    deps.events.record({
      type: account.kind === 'created' ? 'register' : 'identity_linked',
      userId: user.id,
      ...context,
      detail: { provider: provider.id, via: AMR_PROVIDER },
    })
  }
  if (user.disabledAt !== null) {
    deps.events.record({
      type: 'login_failed',
      userId: user.id,
      ...context,
      detail: { reason: 'account_disabled', method: AMR_PROVIDER, provider: provider.id },
    })
    throw new TesseraError('ACCOUNT_DISABLED')
  }

  const needsCode =
    state.mode === 'code' || (await hasSecondFactor(deps, user.id)) || mustEnrol(deps.config, user)
  if (needsCode) {
    // cookie mode without the app's challenge: Tessera makes the pair and the verifier goes to
    // the browser in an HttpOnly cookie for the exchange
    const ownVerifier = state.codeChallenge === null ? oidc.randomPKCECodeVerifier() : null
    const codeChallenge = state.codeChallenge ?? (await oidc.calculatePKCECodeChallenge(ownVerifier ?? ''))
    const { token, hash } = newOneTimeToken()
    await deps.stores.oneTimeTokens.issue({
      id: randomUUID(),
      userId: user.id,
      purpose: 'oauth_code',
      hash,
      email: user.email,
      createdAt: now,
      expiresAt: new Date(now.getTime() + PROVIDER_CODE_TTL * 1000),
      codeChallenge,
    })
    return { kind: 'code', code: token, codeVerifier: ownVerifier }
  }
  return { kind: 'signed-in', tokens: await signIn(deps, user, context, provider.id) }
}

/**
 * Redeems the code with the PKCE verifier and reads who signed in: the validated ID token of an
 * OpenID provider (issuer, audience, signature, expiry, nonce), or GitHub's API with the access
 * token (GitHub has no ID token, so no nonce; `state` and PKCE bind the answer to this browser).
 */
async function providerIdentity(
  deps: Pick<ProviderSignInDeps, 'providers'>,
  provider: OAuthProviderConfig,
  state: SignInState,
  currentUrl: URL,
): Promise<ProviderClaims> {
  const configuration = await deps.providers.discover(provider)
  if (provider.protocol === 'github') {
    const tokens = await oidc.authorizationCodeGrant(configuration, currentUrl, {
      pkceCodeVerifier: state.codeVerifier,
      expectedState: state.state,
      idTokenExpected: false,
    })
    return githubClaims(configuration, provider, tokens.access_token)
  }
  const tokens = await oidc.authorizationCodeGrant(configuration, currentUrl, {
    pkceCodeVerifier: state.codeVerifier,
    expectedState: state.state,
    expectedNonce: state.nonce,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  if (!claims) throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: 'no ID token' })
  return providerClaims(provider, claims)
}

/**
 * Linking while signed in: a one-time code (60 s, bound to the app's challenge) that carries the
 * identity to POST /auth/oauth/link/complete, where the same user links it. An identity of
 * another account is ACCOUNT_EXISTS.
 */
async function linkCode(
  deps: ProviderSignInDeps,
  provider: OAuthProviderConfig,
  state: SignInState,
  claims: ProviderClaims,
  now: Date,
): Promise<string> {
  const user = state.userId === null ? undefined : await deps.stores.users.findById(state.userId)
  if (!user || state.codeChallenge === null) throw new TesseraError('PROVIDER_SIGN_IN_FAILED')
  const taken = await deps.stores.identities.find({
    provider: provider.id,
    issuer: claims.issuer,
    subject: claims.subject,
  })
  if (taken && taken.userId !== user.id) throw new TesseraError('ACCOUNT_EXISTS')
  const { token, hash } = newOneTimeToken()
  const payload: PendingLink = { provider: provider.id, ...claims }
  await deps.stores.oneTimeTokens.issue({
    id: randomUUID(),
    userId: user.id,
    purpose: 'oauth_link',
    hash,
    email: user.email,
    createdAt: now,
    expiresAt: new Date(now.getTime() + PROVIDER_CODE_TTL * 1000),
    codeChallenge: state.codeChallenge,
    payload,
  })
  return token
}

/** What a link code carries from the callback to the completion. */
export type PendingLink = { provider: string } & ProviderClaims

/** Opens the session of a provider sign-in (no second factor to ask for). */
export async function signIn(
  deps: Pick<ProviderSignInDeps, 'stores' | 'keyRing' | 'events' | 'clock' | 'config'>,
  user: UserRecord,
  context: ClientContext,
  providerId: string | null,
): Promise<IssuedTokens> {
  return openSignedInSession(
    deps,
    user,
    signedInWith([AMR_PROVIDER], deps.clock.now()),
    context,
    providerId === null ? { method: AMR_PROVIDER } : { method: AMR_PROVIDER, provider: providerId },
  )
}

function failed(
  deps: Pick<ProviderSignInDeps, 'events'>,
  provider: OAuthProviderConfig,
  context: ClientContext,
  reason: string,
  cause?: unknown,
): TesseraError {
  deps.events.record({
    type: 'provider_sign_in_failed',
    ...context,
    detail: { provider: provider.id, reason: reason.slice(0, 100) },
  })
  return new TesseraError('PROVIDER_SIGN_IN_FAILED', { cause })
}

/** openid-client's refusals of what the provider sent, as opposed to failing to reach it. */
const isRefusal = (error: unknown): boolean =>
  error instanceof oidc.ResponseBodyError ||
  error instanceof oidc.AuthorizationResponseError ||
  error instanceof oidc.WWWAuthenticateChallengeError ||
  error instanceof oidc.ClientError

const errorCode = (error: unknown): string =>
  error instanceof oidc.ResponseBodyError || error instanceof oidc.AuthorizationResponseError
    ? error.error
    : error instanceof oidc.ClientError
      ? (bodyError(error) ?? error.code ?? 'client_error')
      : 'refused'

/**
 * The `error` of a token answer that is not one: GitHub answers a bad code with 200 and
 * `{ "error": "bad_verification_code" }`, which openid-client refuses as an invalid response.
 */
function bodyError(error: Error): string | undefined {
  for (let cause: unknown = error.cause, depth = 0; cause instanceof Object && depth < 3; depth += 1) {
    const body = (cause as { body?: unknown }).body
    if (
      typeof body === 'object' &&
      body !== null &&
      typeof (body as { error?: unknown }).error === 'string'
    ) {
      return `provider_error:${(body as { error: string }).error}`
    }
    cause = (cause as { cause?: unknown }).cause
  }
  return undefined
}
