import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FlowDeps } from '../../flows/deps.js'
import { listIdentities, unlinkIdentity } from '../../flows/providers/identities.js'
import type { IdentityRecord } from '../../store/identities.js'
import { requireBearer } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { perUser, rateLimited } from '../rate-limit.js'
import { responses } from '../schemas.js'

const security = [{ bearerAuth: [] }]

const IdentityView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  provider: Type.String({ description: 'The id in TESSERA_OAUTH_PROVIDERS.' }),
  email: Type.Union([Type.String(), Type.Null()], {
    description: "The provider's email at the last sign-in.",
  }),
  linkedAt: Type.String({ format: 'date-time' }),
})

const identityView = (identity: IdentityRecord) => ({
  id: identity.id,
  provider: identity.provider,
  email: identity.email,
  linkedAt: identity.linkedAt.toISOString(),
})

/** The signed-in user's provider identities: list, unlink (not the last way to sign in). */
export const identityRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const authOf = requireBearer(app, deps)
    const limitPerUser = perUser(deps.config.limits, authOf)

    app.get(
      '/auth/identities',
      {
        schema: {
          tags: ['auth'],
          summary: "The signed-in user's provider identities, oldest first",
          security,
          response: responses({ 200: Type.Object({ identities: Type.Array(IdentityView) }) }),
        },
      },
      async (request, reply) => {
        const identities = await listIdentities(deps, authOf(request).user.id)
        return reply.header('cache-control', 'no-store').send({ identities: identities.map(identityView) })
      },
    )

    app.delete(
      '/auth/identities/:id',
      {
        schema: {
          tags: ['auth'],
          summary: 'Unlink one of your provider identities; needs a recent sign-in',
          description:
            '409 LAST_SIGN_IN_METHOD when nothing else signs in to the account (no password, passkey, other ' +
            "identity or magic links); another user's id is 404.",
          security,
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, limitPerUser('identity-unlink')),
      },
      async (request, reply) => {
        await unlinkIdentity(deps, authOf(request), request.params.id, clientContext(request))
        return reply.code(204).send(null)
      },
    )
  }
