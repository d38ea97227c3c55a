import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FlowDeps } from '../../flows/deps.js'
import { listIdentities, unlinkIdentity } from '../../flows/providers/identities.js'
import { completeLink, requireLinkable } from '../../flows/providers/link-identity.js'
import { startProviderSignIn } from '../../flows/providers/provider-sign-in.js'
import { SIGN_IN_STATE_TTL, sealSignInState } from '../../flows/providers/sign-in-state.js'
import type { IdentityRecord } from '../../store/identities.js'
import { requireBearer } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { perUser, rateLimited } from '../rate-limit.js'
import { responses } from '../schemas.js'
import { ProviderId, STATE_COOKIE, stateCookieOptions } from './providers.js'

const security = [{ bearerAuth: [] }]

export const IdentityView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  provider: Type.String({ description: 'The id in TESSERA_OAUTH_PROVIDERS.' }),
  email: Type.Union([Type.String(), Type.Null()], {
    description: "The provider's email at the last sign-in.",
  }),
  linkedAt: Type.String({ format: 'date-time' }),
})

export const identityView = (identity: IdentityRecord) => ({
  id: identity.id,
  provider: identity.provider,
  email: identity.email,
  linkedAt: identity.linkedAt.toISOString(),
})

/**
 * The signed-in user's provider identities: list, link (started here, finished with the callback's
 * code), unlink (not the last way to sign in). All Bearer routes.
 */
export const identityRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const authOf = requireBearer(app, deps)
    const limitPerUser = perUser(deps.config.limits, authOf)
    const stateCookie = stateCookieOptions(deps.config)

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

    app.post(
      '/auth/oauth/:id/link',
      {
        schema: {
          tags: ['auth'],
          summary: 'Start linking a provider to your account; needs a recent sign-in',
          description:
            'The URL to visit, in this browser (the state cookie is set with this answer). The callback ' +
            'returns to `redirectTo` with `#code=`, which POST /auth/oauth/link/complete takes with the ' +
            'verifier of `codeChallenge`. An identity of another account: `#error=ACCOUNT_EXISTS`.',
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: ProviderId }),
          body: Type.Object(
            {
              redirectTo: Type.String({ minLength: 1, maxLength: 2048 }),
              codeChallenge: Type.String({ minLength: 43, maxLength: 43 }),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: Type.Object({ url: Type.String() }) }),
        },
        ...rateLimited(deps.limits, limitPerUser('oauth-link')),
      },
      async (request, reply) => {
        const auth = authOf(request)
        requireLinkable(deps, auth)
        const { url, state } = await startProviderSignIn(deps, {
          providerId: request.params.id,
          redirectTo: request.body.redirectTo,
          mode: 'link',
          codeChallenge: request.body.codeChallenge,
          userId: auth.user.id,
        })
        reply.setCookie(STATE_COOKIE, await sealSignInState(deps.providers.stateKey, state), {
          ...stateCookie(state.provider),
          maxAge: SIGN_IN_STATE_TTL,
        })
        return reply.header('cache-control', 'no-store').send({ url })
      },
    )

    app.post(
      '/auth/oauth/link/complete',
      {
        schema: {
          tags: ['auth'],
          summary: 'Link the identity of a link code to your account',
          description:
            'The code of the callback, once and within 60 seconds, with the verifier of the challenge of ' +
            'POST /auth/oauth/:id/link, by the user who started it; else 400 ONE_TIME_TOKEN_INVALID.',
          security: [{ bearerAuth: [] }],
          body: Type.Object(
            {
              code: Type.String({ minLength: 1, maxLength: 512 }),
              codeVerifier: Type.String({ minLength: 43, maxLength: 128 }),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: Type.Object({ identity: IdentityView }) }),
        },
        ...rateLimited(deps.limits, limitPerUser('oauth-link-complete')),
      },
      async (request, reply) => {
        const identity = await completeLink(deps, authOf(request), request.body, clientContext(request))
        return reply.header('cache-control', 'no-store').send({ identity: identityView(identity) })
      },
    )
  }
