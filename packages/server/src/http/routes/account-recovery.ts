import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FlowDeps } from '../../flows/deps.js'
import { forgotPassword } from '../../flows/forgot-password.js'
import { resetPassword } from '../../flows/reset-password.js'
import { confirmEmailChange } from '../../flows/self-service.js'
import { resendVerification, verifyEmail } from '../../flows/verify-email.js'
import { clientContext } from '../client-context.js'
import { byBodyEmail, byIp, rateLimited } from '../rate-limit.js'
import { Email, passwordSchema, responses } from '../schemas.js'

const Accepted = Type.Object({ status: Type.Literal('accepted') })
const OneTimeToken = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'The `token` of the mailed link.',
})

/** Password reset and email verification: the routes a mailed link leads to. */
export const accountRecoveryRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const rules = deps.config.limits
    app.post(
      '/auth/forgot-password',
      {
        schema: {
          tags: ['account recovery'],
          summary: 'Mail a password-reset link',
          description: `202 whether or not the address has an account. The link is valid for ${Math.round(deps.config.resetTokenTtl / 60)} minutes and once.`,
          body: Type.Object({ email: Email }, { additionalProperties: false }),
          response: responses({ 202: Accepted }),
        },
        ...rateLimited(deps.limits, [
          { name: 'forgot-password:ip', rule: rules.mailPerIp, key: byIp },
          { name: 'forgot-password:email', rule: rules.mailPerEmail, key: byBodyEmail },
        ]),
      },
      async (request, reply) => {
        await forgotPassword(deps, request.body.email, clientContext(request))
        return reply.code(202).send({ status: 'accepted' as const })
      },
    )

    app.post(
      '/auth/reset-password',
      {
        schema: {
          tags: ['account recovery'],
          summary: 'Set a new password with a reset token; revokes every session',
          body: Type.Object(
            { token: OneTimeToken, password: passwordSchema(deps.config) },
            { additionalProperties: false },
          ),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, [{ name: 'reset-password:ip', rule: rules.tokenUse, key: byIp }]),
      },
      async (request, reply) => {
        await resetPassword(deps, request.body, clientContext(request))
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/auth/verify-email',
      {
        schema: {
          tags: ['account recovery'],
          summary: 'Confirm an email address with a verification token',
          body: Type.Object({ token: OneTimeToken }, { additionalProperties: false }),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, [{ name: 'verify-email:ip', rule: rules.tokenUse, key: byIp }]),
      },
      async (request, reply) => {
        await verifyEmail(deps, request.body.token, clientContext(request))
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/auth/email/confirm',
      {
        schema: {
          tags: ['account'],
          summary: 'Confirm a new email address with the token mailed to it (POST /auth/email)',
          description:
            'The address changes and counts as verified; access tokens issued before are stale (a refresh gets the ' +
            'new email). 409 EMAIL_TAKEN when another account took the address meanwhile.',
          body: Type.Object({ token: OneTimeToken }, { additionalProperties: false }),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, [{ name: 'email-confirm:ip', rule: rules.tokenUse, key: byIp }]),
      },
      async (request, reply) => {
        await confirmEmailChange(deps, request.body.token, clientContext(request))
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/auth/verify-email/resend',
      {
        schema: {
          tags: ['account recovery'],
          summary: 'Mail a new verification link',
          description: '202 whether the address is unknown, verified or waiting.',
          body: Type.Object({ email: Email }, { additionalProperties: false }),
          response: responses({ 202: Accepted }),
        },
        ...rateLimited(deps.limits, [
          { name: 'verify-email-resend:ip', rule: rules.mailPerIp, key: byIp },
          { name: 'verify-email-resend:email', rule: rules.mailPerEmail, key: byBodyEmail },
        ]),
      },
      async (request, reply) => {
        await resendVerification(deps, request.body.email)
        return reply.code(202).send({ status: 'accepted' as const })
      },
    )
  }
