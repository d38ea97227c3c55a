import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
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
/** Bytes of a posted provider answer (a code, a state, an ID token, Apple's `user`). */
const FORM_BODY_LIMIT = 32 * 1024
const Redirect = Type.Object({}, { description: 'A redirect (`Location`).' })

/**
 * The state cookie's options: HttpOnly, sent only to the provider's callback, Secure as the refresh
 * cookie is, and Lax, since the provider brings the browser back with a top-level GET from its site.
 * A `form_post` provider (Apple) brings it back with a cross-site POST, which carries no Lax
 * cookie: its state cookie is SameSite=None, which browsers take only with Secure (they treat
 * http://localhost as secure). The sealed state still binds the answer to this browser.
 */
export function stateCookieOptions(config: Pick<FlowDeps['config'], 'publicUrl' | 'oauthProviders'>) {
  const publicUrl = new URL(config.publicUrl)
  const basePath = publicUrl.pathname.replace(/\/+$/, '')
  const secure = !(publicUrl.protocol === 'http:' && isLoopbackHost(publicUrl.hostname))
  const formPost = new Set(
    config.oauthProviders.filter((provider) => provider.responseMode === 'form_post').map(({ id }) => id),
  )
  return (id: string) => {
    const path = `${basePath}/auth/oauth/${id}/callback`
    return formPost.has(id)
      ? ({ httpOnly: true, sameSite: 'none', secure: true, path } as const)
      : ({ httpOnly: true, sameSite: 'lax', secure, path } as const)
  }
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

    /**
     * The provider's answer, by query (GET) or by form (POST, `form_post`): the parameters go into
     * the callback URL openid-client reads, as it does with a form itself.
     */
    const callback = async (
      request: FastifyRequest,
      reply: FastifyReply,
      id: string,
      parameters: Readonly<Record<string, string>>,
    ) => {
      const provider = deps.providers.get(id)
      const count = (outcome: string) => deps.providers.countSignIn(provider, outcome)
      const sealed = request.cookies[STATE_COOKIE]
      // the state serves one callback: gone from this browser whatever happens next
      reply.clearCookie(STATE_COOKIE, stateCookie(provider.id))
      reply.header('cache-control', 'no-store')
      const state = await openSignInState(deps.providers.stateKey, sealed, provider.id, deps.clock)
      if (!state || !stateMatches(state, parameters.state)) {
        count('oauth_state_invalid')
        throw new TesseraError('OAUTH_STATE_INVALID')
      }

      const current = new URL(callbackUrl(deps.config.publicUrl, provider.id))
      for (const [name, value] of Object.entries(parameters)) current.searchParams.append(name, value)
      const back = (fragment: string) => reply.redirect(`${state.redirectTo}#${fragment}`, 302)
      try {
        const outcome = await completeProviderSignIn(deps, state, current, clientContext(request))
        count('succeeded')
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
        if (error instanceof TesseraError) {
          count(error.code.toLowerCase())
          return back(`error=${error.code}`)
        }
        // a bug: logged with the request id, and the app still hears of it
        count('internal')
        request.log.error({ err: error }, 'provider sign-in failed')
        return back('error=INTERNAL')
      }
    }

    const callbackDescription =
      '302 to the `redirectTo` of the start: cookie mode sets the refresh cookie; code mode, or cookie ' +
      'mode for an account with a second factor, appends `#code=<one-time code, 60 s>`; a failure ' +
      'appends `#error=<CODE>`. Without the state cookie of this browser and provider, or with another ' +
      '`state`: 400 OAUTH_STATE_INVALID, as there is nowhere safe to return to.'
    const CallbackParameters = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 4096 }))

    app.get(
      '/auth/oauth/:id/callback',
      {
        schema: {
          tags: ['auth'],
          summary: "The provider's answer",
          description: callbackDescription,
          params: Type.Object({ id: ProviderId }),
          querystring: CallbackParameters,
          response: responses({ 302: Redirect }),
        },
        ...rateLimited(deps.limits, [{ name: 'oauth-callback:ip', rule: rules.login, key: byIp }]),
      },
      (request, reply) => callback(request, reply, request.params.id, request.query),
    )

    // form_post providers (Apple) answer with a form the browser POSTs: form bodies only, here
    await app.register(async (forms) => {
      forms.removeAllContentTypeParsers()
      await forms.register(formbody, { bodyLimit: FORM_BODY_LIMIT })
      forms.withTypeProvider<TypeBoxTypeProvider>().post(
        '/auth/oauth/:id/callback',
        {
          bodyLimit: FORM_BODY_LIMIT,
          schema: {
            tags: ['auth'],
            summary: "The provider's answer, posted (response_mode=form_post)",
            description: `${callbackDescription} The parameters come as an \`application/x-www-form-urlencoded\` body.`,
            params: Type.Object({ id: ProviderId }),
            consumes: ['application/x-www-form-urlencoded'],
            body: CallbackParameters,
            response: responses({ 302: Redirect }),
          },
          ...rateLimited(deps.limits, [{ name: 'oauth-callback:ip', rule: rules.login, key: byIp }]),
        },
        (request, reply) => callback(request, reply, request.params.id, request.body),
      )
    })

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
