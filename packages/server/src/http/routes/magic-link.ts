import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FlowDeps } from '../../flows/deps.js'
import { requestMagicLink, signInWithMagicLink } from '../../flows/magic-link.js'
import { clientContext } from '../client-context.js'
import { byBodyEmail, byIp, rateLimited } from '../rate-limit.js'
import {
  Email,
  MfaEnrollmentRequiredResponse,
  MfaRequiredResponse,
  responses,
  TokenDelivery,
  TokenResponse,
} from '../schemas.js'
import { tokenReplies } from '../token-reply.js'

/**
 * Sign-in links by mail (TESSERA_MAGIC_LINK=on). Registered only when on: off, the paths answer
 * 404 NOT_FOUND like any unknown one and are absent from the OpenAPI document.
 */
export const magicLinkRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const rules = deps.config.limits
    const replies = tokenReplies(deps)
    const minutes = Math.round(deps.config.magicLinkTtl / 60)

    app.post(
      '/auth/magic-link',
      {
        schema: {
          tags: ['auth'],
          summary: 'Mail a sign-in link',
          description:
            `202 whether or not the address has an account (no account is created). The link is valid for ${minutes} ` +
            'minutes and once; only the newest link of an account works.',
          body: Type.Object({ email: Email }, { additionalProperties: false }),
          response: responses({ 202: Type.Object({ status: Type.Literal('accepted') }) }),
        },
        ...rateLimited(deps.limits, [
          { name: 'magic-link:ip', rule: rules.mailPerIp, key: byIp },
          { name: 'magic-link:email', rule: rules.mailPerEmail, key: byBodyEmail },
        ]),
      },
      async (request, reply) => {
        await requestMagicLink(deps, request.body.email, clientContext(request))
        return reply.code(202).send({ status: 'accepted' as const })
      },
    )

    app.post(
      '/auth/magic-link/verify',
      {
        schema: {
          tags: ['auth'],
          summary: 'Sign in with the token of a magic link; the email counts as verified',
          description:
            'Single use. An address verified here for the first time loses the password and sessions ' +
            'set up before (pre-hijacking). For an account with a confirmed second factor the answer is 200 ' +
            '`{ "status": "mfa_required", "mfaToken", "methods" }` and no tokens: finish at POST /auth/mfa/verify. ' +
            'Unknown, used, expired or another purpose: 400 ONE_TIME_TOKEN_INVALID; a disabled account: 403 ACCOUNT_DISABLED.',
          body: Type.Object(
            {
              token: Type.String({
                minLength: 1,
                maxLength: 512,
                description: 'The `token` of the mailed link.',
              }),
              tokenDelivery: Type.Optional(TokenDelivery),
            },
            { additionalProperties: false },
          ),
          response: responses({
            200: Type.Union([TokenResponse, MfaRequiredResponse, MfaEnrollmentRequiredResponse]),
          }),
        },
        ...rateLimited(deps.limits, [{ name: 'magic-link-verify:ip', rule: rules.tokenUse, key: byIp }]),
      },
      async (request, reply) => {
        const outcome = await signInWithMagicLink(deps, request.body.token, clientContext(request))
        if (outcome.kind === 'mfa-required') return replies.mfaRequired(reply, outcome)
        if (outcome.kind === 'enrolment-required') return replies.enrolmentRequired(reply, outcome)
        return replies.tokens(reply, outcome.tokens, request.body.tokenDelivery ?? 'cookie', 200)
      },
    )
  }
