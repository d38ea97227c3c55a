import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { isLoopbackHost } from '../../config.js'
import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../../flows/deps.js'
import { exchangeProviderCode } from '../../flows/providers/exchange-code.js'
import {
  callbackUrl,
  completeProviderSignIn,
  PROVIDER_CODE_TTL,
  startProviderSignIn,
  stateMatches,
} from '../../flows/providers/provider-sign-in.js'
import { openSignInState, SIGN_IN_STATE_TTL, sealSignInState } from '../../flows/providers/sign-in-state.js'
import { clientContext } from '../client-context.js'
import { byIp, rateLimited } from '../rate-limit.js'
import { refreshCookie } from '../refresh-cookie.js'
import {
  MfaEnrollmentRequiredResponse,
  MfaRequiredResponse,
  responses,
  TokenDelivery,
  TokenResponse,
} from '../schemas.js'
import { tokenReplies } from '../token-reply.js'

/** The sealed state of a started sign-in, sent back only to that provider's callback. */
export const STATE_COOKIE = 'tessera_oauth_state'
/** The verifier Tessera made for a cookie-mode sign-in that must finish with a second factor. */
const VERIFIER_COOKIE = 'tessera_oauth_verifier'

export const ProviderId = Type.String({ pattern: '^[a-z][a-z0-9]{0,31}$' })
const Redirect = Type.Object({}, { description: 'A redirect (`Location`).' })

/**
 * The state cookie's options: HttpOnly, sent only to the provider's callback, Secure as the refresh
 * cookie is, and Lax, since the provider brings the browser back with a top-level GET from its site.
 */
export function stateCookieOptions(config: Pick<FlowDeps['config'], 'publicUrl'>) {
  const publicUrl = new URL(config.publicUrl)
  const basePath = publicUrl.pathname.replace(/\/+$/, '')
  const secure = !(publicUrl.protocol === 'http:' && isLoopbackHost(publicUrl.hostname))
  return (id: string) =>
    ({ httpOnly: true, sameSite: 'lax', secure, path: `${basePath}/auth/oauth/${id}/callback` }) as const
}

/**
 * Sign in with OpenID Connect providers (TESSERA_OAUTH_PROVIDERS): the list, the start, the
 * provider's callback, and the exchange of the one-time code the callback returns to the app.
 */
export const providerRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const rules = deps.config.limits
    const replies = tokenReplies(deps)
    const refresh = refreshCookie(deps.config)
    const publicUrl = new URL(deps.config.publicUrl)
    const basePath = publicUrl.pathname.replace(/\/+$/, '')
    // as the refresh cookie: Secure unless the public URL is plain http on this machine
    const secure = !(publicUrl.protocol === 'http:' && isLoopbackHost(publicUrl.hostname))
    const stateCookie = stateCookieOptions(deps.config)
    const verifierCookie = {
      httpOnly: true,
      sameSite: 'lax',
      secure,
      path: `${basePath}/auth/oauth/exchange`,
    } as const

    app.get(
      '/auth/oauth/providers',
      {
        schema: {
          tags: ['auth'],
          summary: 'The providers users may sign in with',
          response: responses({
            200: Type.Object({
              providers: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
            }),
          }),
        },
      },
      async () => ({ providers: deps.providers.list().map(({ id, name }) => ({ id, name })) }),
    )

    app.get(
      '/auth/oauth/:id/start',
      {
        schema: {
          tags: ['auth'],
          summary: 'Start a sign-in at a provider',
          description:
            '302 to the provider, with PKCE S256, `state` and `nonce` bound to a short HttpOnly cookie. ' +
            '`redirectTo` must be on TESSERA_OAUTH_REDIRECTS (else 400 REDIRECT_NOT_ALLOWED, before anything ' +
            "is sent to the provider). Code mode needs the app's own S256 `codeChallenge`: its verifier " +
            'exchanges the code at POST /auth/oauth/exchange.',
          params: Type.Object({ id: ProviderId }),
          querystring: Type.Object(
            {
              redirectTo: Type.String({ minLength: 1, maxLength: 2048 }),
              mode: Type.Optional(Type.Union([Type.Literal('cookie'), Type.Literal('code')])),
              codeChallenge: Type.Optional(Type.String({ minLength: 43, maxLength: 43 })),
            },
            { additionalProperties: false },
          ),
          response: responses({ 302: Redirect }),
        },
        ...rateLimited(deps.limits, [{ name: 'oauth-start:ip', rule: rules.login, key: byIp }]),
      },
      async (request, reply) => {
        const { url, state } = await startProviderSignIn(deps, {
          providerId: request.params.id,
          redirectTo: request.query.redirectTo,
          mode: request.query.mode ?? 'cookie',
          codeChallenge: request.query.codeChallenge,
        })
        reply.setCookie(STATE_COOKIE, await sealSignInState(deps.providers.stateKey, state), {
          ...stateCookie(state.provider),
          maxAge: SIGN_IN_STATE_TTL,
        })
        return reply.header('cache-control', 'no-store').redirect(url, 302)
      },
    )

    app.get(
      '/auth/oauth/:id/callback',
      {
        schema: {
          tags: ['auth'],
          summary: "The provider's answer",
          description:
            '302 to the `redirectTo` of the start: cookie mode sets the refresh cookie; code mode, or cookie ' +
            'mode for an account with a second factor, appends `#code=<one-time code, 60 s>`; a failure ' +
            'appends `#error=<CODE>`. Without the state cookie of this browser and provider, or with another ' +
            '`state`: 400 OAUTH_STATE_INVALID, as there is nowhere safe to return to.',
          params: Type.Object({ id: ProviderId }),
          querystring: Type.Record(Type.String(), Type.String({ maxLength: 4096 })),
          response: responses({ 302: Redirect }),
        },
        ...rateLimited(deps.limits, [{ name: 'oauth-callback:ip', rule: rules.login, key: byIp }]),
      },
      async (request, reply) => {
        const provider = deps.providers.get(request.params.id)
        const sealed = request.cookies[STATE_COOKIE]
        // the state serves one callback: gone from this browser whatever happens next
        reply.clearCookie(STATE_COOKIE, stateCookie(provider.id))
        reply.header('cache-control', 'no-store')
        const state = await openSignInState(deps.providers.stateKey, sealed, provider.id, deps.clock)
        if (!state || !stateMatches(state, request.query.state)) throw new TesseraError('OAUTH_STATE_INVALID')

        const query = request.url.indexOf('?')
        const current = new URL(callbackUrl(deps.config.publicUrl, provider.id))
        current.search = query === -1 ? '' : request.url.slice(query)
        const back = (fragment: string) => reply.redirect(`${state.redirectTo}#${fragment}`, 302)
        try {
          const outcome = await completeProviderSignIn(deps, state, current, clientContext(request))
          if (outcome.kind === 'signed-in') {
            const { tokens } = outcome
            refresh.set(reply, tokens.refreshToken, tokens.refreshExpiresAt, deps.clock.now())
            return reply.redirect(state.redirectTo, 302)
          }
          if (outcome.codeVerifier !== null) {
            reply.setCookie(VERIFIER_COOKIE, outcome.codeVerifier, {
              ...verifierCookie,
              maxAge: PROVIDER_CODE_TTL,
            })
          }
          return back(`code=${outcome.code}`)
        } catch (error) {
          if (error instanceof TesseraError) return back(`error=${error.code}`)
          // a bug: logged with the request id, and the app still hears of it
          request.log.error({ err: error }, 'provider sign-in failed')
          return back('error=INTERNAL')
        }
      },
    )

    app.post(
      '/auth/oauth/exchange',
      {
        schema: {
          tags: ['auth'],
          summary: 'Exchange the one-time code of a provider sign-in',
          description:
            'Once, within 60 seconds, with the verifier of the `codeChallenge` given at the start (in cookie ' +
            'mode without one, the HttpOnly cookie the callback set stands in for it). Answers as login ' +
            'does: the token response, `mfa_required` or `mfa_enrollment_required`. A used, expired or ' +
            'unbound code: 400 ONE_TIME_TOKEN_INVALID.',
          body: Type.Object(
            {
              code: Type.String({ minLength: 1, maxLength: 512 }),
              codeVerifier: Type.Optional(Type.String({ minLength: 43, maxLength: 128 })),
              tokenDelivery: Type.Optional(TokenDelivery),
            },
            { additionalProperties: false },
          ),
          response: responses({
            200: Type.Union([TokenResponse, MfaRequiredResponse, MfaEnrollmentRequiredResponse]),
          }),
        },
        ...rateLimited(deps.limits, [{ name: 'oauth-exchange:ip', rule: rules.tokenUse, key: byIp }]),
      },
      async (request, reply) => {
        const codeVerifier = request.body.codeVerifier ?? request.cookies[VERIFIER_COOKIE] ?? ''
        const outcome = await exchangeProviderCode(
          deps,
          { code: request.body.code, codeVerifier },
          clientContext(request),
        )
        if (request.cookies[VERIFIER_COOKIE] !== undefined) reply.clearCookie(VERIFIER_COOKIE, verifierCookie)
        if (outcome.kind === 'mfa-required') return replies.mfaRequired(reply, outcome)
        if (outcome.kind === 'enrolment-required') return replies.enrolmentRequired(reply, outcome)
        return replies.tokens(reply, outcome.tokens, request.body.tokenDelivery ?? 'cookie', 200)
      },
    )
  }
