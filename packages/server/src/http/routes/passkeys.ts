import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FlowDeps } from '../../flows/deps.js'
import { listPasskeys, removePasskey } from '../../flows/passkeys/manage-passkeys.js'
import { requireBearer } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { perUser, rateLimited } from '../rate-limit.js'
import { PasskeyView, responses } from '../schemas.js'
import { passkeyView } from '../views.js'

const security = [{ bearerAuth: [] }]

/**
 * The signed-in user's passkeys: list, remove (API.md "Second factors, passkeys, magic links"); registering
 * is in enrolment.ts, which also takes an enrolment token.
 */
export const passkeyRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const rules = deps.config.limits
    const authOf = requireBearer(app, deps)
    const limitPerUser = perUser(rules, authOf)

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
