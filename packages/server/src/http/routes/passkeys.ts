import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FlowDeps } from '../../flows/deps.js'
import { listPasskeys, removePasskey } from '../../flows/passkeys/manage-passkeys.js'
import {
  PASSKEY_NAME_MAX,
  passkeyRegistrationOptions,
  registerPasskey,
} from '../../flows/passkeys/register-passkey.js'
import { requireBearer } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { perUser, rateLimited } from '../rate-limit.js'
import { ChallengeId, CreationCeremony, PasskeyView, RegistrationResponse, responses } from '../schemas.js'
import { passkeyView } from '../views.js'

const security = [{ bearerAuth: [] }]

/** The signed-in user's passkeys: register, list, remove (API.md "Second factors, passkeys, magic links"). */
export const passkeyRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const rules = deps.config.limits
    const authOf = requireBearer(app, deps)
    const limitPerUser = perUser(rules, authOf)

    app.post(
      '/auth/passkeys/register/options',
      {
        schema: {
          tags: ['passkeys'],
          summary: 'Start registering a passkey: options for navigator.credentials.create',
          description:
            'Needs a verified email (403 EMAIL_NOT_VERIFIED) and a sign-in within the last 5 minutes ' +
            '(401 STEP_UP_REQUIRED). Asks for a discoverable credential with user verification, none of ' +
            "the user's passkeys again. The challenge is single use and lives 5 minutes.",
          security,
          response: responses({ 200: CreationCeremony }),
        },
        ...rateLimited(deps.limits, limitPerUser('passkey-register')),
      },
      async (request, reply) =>
        reply
          .header('cache-control', 'no-store')
          .send(await passkeyRegistrationOptions(deps, authOf(request))),
    )

    app.post(
      '/auth/passkeys/register/verify',
      {
        schema: {
          tags: ['passkeys'],
          summary: "Finish registering a passkey with the authenticator's answer; the user is mailed",
          description:
            '400 CHALLENGE_INVALID for a used, expired or foreign challenge; 400 ATTESTATION_INVALID ' +
            'when the answer does not verify (origin, RP id, challenge, user verification); 409 PASSKEY_EXISTS ' +
            'for a credential registered already. Without a name the passkey is called "Passkey N".',
          security,
          body: Type.Object(
            {
              challengeId: ChallengeId,
              response: RegistrationResponse,
              name: Type.Optional(Type.String({ maxLength: PASSKEY_NAME_MAX })),
            },
            { additionalProperties: false },
          ),
          response: responses({
            201: Type.Object({
              passkey: Type.Object({
                id: Type.String({ format: 'uuid' }),
                name: Type.String(),
                createdAt: Type.String({ format: 'date-time' }),
              }),
            }),
          }),
        },
        ...rateLimited(deps.limits, limitPerUser('passkey-register')),
      },
      async (request, reply) => {
        const passkey = await registerPasskey(deps, authOf(request), request.body, clientContext(request))
        return reply.code(201).send({
          passkey: { id: passkey.id, name: passkey.name, createdAt: passkey.createdAt.toISOString() },
        })
      },
    )

    app.get(
      '/auth/passkeys',
      {
        schema: {
          tags: ['passkeys'],
          summary: "The signed-in user's passkeys, oldest first",
          security,
          response: responses({ 200: Type.Object({ passkeys: Type.Array(PasskeyView) }) }),
        },
      },
      async (request, reply) => {
        const passkeys = await listPasskeys(deps, authOf(request).user.id)
        return reply.header('cache-control', 'no-store').send({ passkeys: passkeys.map(passkeyView) })
      },
    )

    app.delete(
      '/auth/passkeys/:id',
      {
        schema: {
          tags: ['passkeys'],
          summary: 'Remove one of your passkeys (another user’s id is 404); needs a recent sign-in',
          security,
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, limitPerUser('passkey-remove')),
      },
      async (request, reply) => {
        await removePasskey(deps, authOf(request), request.params.id, clientContext(request))
        return reply.code(204).send(null)
      },
    )
  }
