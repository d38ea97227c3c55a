import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

import type { FlowDeps } from '../../flows/deps.js'
import { disableTotp, mfaStatus, regenerateRecoveryCodes } from '../../flows/mfa/manage-totp.js'
import { stepUp } from '../../flows/mfa/step-up.js'
import { requireBearer } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { perUser, rateLimited } from '../rate-limit.js'
import {
  AuthenticationResponse,
  ChallengeId,
  RecoveryCode,
  responses,
  TokenResponse,
  TotpCode,
} from '../schemas.js'
import { userView } from '../views.js'

const security = [{ bearerAuth: [] }]

const RecoveryCodes = Type.Object({
  recoveryCodes: Type.Array(Type.String(), { description: 'Shown this once; each signs in once.' }),
})
const CodeBody = Type.Object({ code: TotpCode }, { additionalProperties: false })

/** The signed-in user's second factors and step-up (API.md "Second factors, passkeys, magic links"). */
export const mfaRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const rules = deps.config.limits
    const authOf = requireBearer(app, deps)
    const limitPerUser = perUser(rules, authOf)

    app.get(
      '/auth/mfa',
      {
        schema: {
          tags: ['mfa'],
          summary: "The signed-in user's second factors",
          security,
          response: responses({
            200: Type.Object({
              totp: Type.Boolean(),
              passkeys: Type.Integer(),
              recoveryCodesLeft: Type.Integer(),
            }),
          }),
        },
      },
      async (request, reply) =>
        reply.header('cache-control', 'no-store').send(await mfaStatus(deps, authOf(request).user.id)),
    )

    app.delete(
      '/auth/mfa/totp',
      {
        schema: {
          tags: ['mfa'],
          summary: 'Turn TOTP off (recovery codes too); needs a recent sign-in and a current code',
          security,
          body: CodeBody,
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, limitPerUser('totp-disable')),
      },
      async (request, reply) => {
        await disableTotp(deps, authOf(request), request.body.code, clientContext(request))
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/auth/mfa/recovery-codes',
      {
        schema: {
          tags: ['mfa'],
          summary: 'New recovery codes (the old ones void); needs a recent sign-in and a current code',
          security,
          body: CodeBody,
          response: responses({ 200: RecoveryCodes }),
        },
        ...rateLimited(deps.limits, limitPerUser('recovery-codes')),
      },
      async (request, reply) => {
        const result = await regenerateRecoveryCodes(
          deps,
          authOf(request),
          request.body.code,
          clientContext(request),
        )
        return reply.header('cache-control', 'no-store').send(result)
      },
    )

    app.post(
      '/auth/mfa/step-up',
      {
        schema: {
          tags: ['mfa'],
          summary: 'Renew auth_time of this session (RFC 9470 step-up); answers a new access token',
          description:
            'Exactly one of `code`, `recoveryCode`, `passkey` (with the `challengeId` of POST ' +
            '/auth/mfa/passkey/options) and `password` (the password only for an account without a ' +
            'second factor). The refresh token is unchanged: none is returned.',
          security,
          body: Type.Object(
            {
              code: Type.Optional(TotpCode),
              recoveryCode: Type.Optional(RecoveryCode),
              passkey: Type.Optional(AuthenticationResponse),
              challengeId: Type.Optional(ChallengeId),
              password: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: TokenResponse }),
        },
        ...rateLimited(deps.limits, limitPerUser('step-up')),
      },
      async (request, reply) => {
        const authenticated = authOf(request)
        const issued = await stepUp(deps, authenticated, request.body, clientContext(request))
        return reply
          .header('cache-control', 'no-store')
          .header('pragma', 'no-cache')
          .send({ user: userView(authenticated.user), tokenType: 'Bearer' as const, ...issued })
      },
    )
  }
