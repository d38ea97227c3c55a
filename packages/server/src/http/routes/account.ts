import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

import type { Authenticated } from '../../flows/authenticate.js'
import { changePassword } from '../../flows/change-password.js'
import type { FlowDeps } from '../../flows/deps.js'
import { logoutAll } from '../../flows/logout.js'
import { deleteOwnAccount, requestEmailChange, updateProfile } from '../../flows/self-service.js'
import { listSessions, revokeSession } from '../../flows/sessions.js'
import { requireBearer } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { byIp, rateLimited } from '../rate-limit.js'
import { refreshCookie } from '../refresh-cookie.js'
import { Email, passwordSchema, responses, SessionView, UserView } from '../schemas.js'
import { sessionView, userView } from '../views.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on the server's Bearer routes once the token and its session checked out. */
    authenticated?: Authenticated
  }
}

const security = [{ bearerAuth: [] }]

/** Routes that act for the signed-in user, authenticated by an access token. */
export const accountRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const cookie = refreshCookie(deps.config)
    const rules = deps.config.limits
    const authOf = requireBearer(app, deps)

    app.get(
      '/auth/me',
      {
        schema: {
          tags: ['account'],
          summary: 'The signed-in user',
          security,
          response: responses({ 200: Type.Object({ user: UserView }) }),
        },
      },
      async (request, reply) =>
        reply.header('cache-control', 'no-store').send({ user: userView(authOf(request).user) }),
    )

    app.post(
      '/auth/logout-all',
      {
        schema: {
          tags: ['account'],
          summary: 'Revoke every session of the signed-in user',
          security,
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, [{ name: 'logout-all:ip', rule: rules.logout, key: byIp }]),
      },
      async (request, reply) => {
        const { user, session } = authOf(request)
        await logoutAll(deps, { userId: user.id, sessionId: session.id }, clientContext(request))
        cookie.clear(reply)
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/auth/password',
      {
        schema: {
          tags: ['account'],
          summary: 'Change the password; revokes every other session',
          description:
            'A wrong current password is 401 INVALID_CREDENTIALS (not a token problem: do not refresh).',
          security,
          body: Type.Object(
            {
              currentPassword: Type.String({ minLength: 1, maxLength: 4096 }),
              newPassword: passwordSchema(deps.config),
            },
            { additionalProperties: false },
          ),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, [
          {
            name: 'password-change:user',
            rule: rules.passwordChange,
            key: (request) => authOf(request).user.id,
          },
        ]),
      },
      async (request, reply) => {
        const { user, session } = authOf(request)
        await changePassword(
          deps,
          { userId: user.id, sessionId: session.id },
          request.body,
          clientContext(request),
        )
        return reply.code(204).send(null)
      },
    )

    app.get(
      '/auth/sessions',
      {
        schema: {
          tags: ['account'],
          summary: "The signed-in user's live sessions, most recently used first",
          security,
          response: responses({ 200: Type.Object({ sessions: Type.Array(SessionView) }) }),
        },
      },
      async (request, reply) => {
        const { user, session } = authOf(request)
        const sessions = await listSessions(deps, user.id)
        return reply.header('cache-control', 'no-store').send({
          sessions: sessions.map((entry) => sessionView(entry, session.id)),
        })
      },
    )

    app.delete(
      '/auth/sessions/:id',
      {
        schema: {
          tags: ['account'],
          summary: 'Revoke one of your own sessions (another user’s id is 404)',
          security,
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, [{ name: 'session-revoke:ip', rule: rules.logout, key: byIp }]),
      },
      async (request, reply) => {
        await revokeSession(deps, authOf(request).user.id, request.params.id, clientContext(request))
        return reply.code(204).send(null)
      },
    )

    app.patch(
      '/auth/me',
      {
        schema: {
          tags: ['account'],
          summary: 'Change your own name (anything else is refused)',
          security,
          body: Type.Object(
            { name: Type.Union([Type.String({ maxLength: 200 }), Type.Null()]) },
            { additionalProperties: false },
          ),
          response: responses({ 200: Type.Object({ user: UserView }) }),
        },
      },
      async (request, reply) => {
        const user = await updateProfile(deps, authOf(request), request.body, clientContext(request))
        return reply.header('cache-control', 'no-store').send({ user: userView(user) })
      },
    )

    // changing the address or deleting the account: the password, or a recent sign-in
    const sensitiveLimit = rateLimited(deps.limits, [
      {
        name: 'account-change:user',
        rule: rules.passwordChange,
        key: (request) => authOf(request).user.id,
      },
    ])

    app.post(
      '/auth/email',
      {
        schema: {
          tags: ['account'],
          summary: 'Change your email address: a link to the new address confirms it',
          description:
            'Needs `password`, or a sign-in within the last 5 minutes (401 STEP_UP_REQUIRED otherwise). ' +
            'Answers 202 whether or not the new address has an account (a taken address gets no link); ' +
            "the old address is told. POST /auth/email/confirm with the link's token makes the change.",
          security,
          body: Type.Object(
            {
              newEmail: Email,
              password: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
            },
            { additionalProperties: false },
          ),
          response: responses({ 202: Type.Object({ status: Type.Literal('accepted') }) }),
        },
        ...sensitiveLimit,
      },
      async (request, reply) => {
        await requestEmailChange(deps, authOf(request), request.body, clientContext(request))
        return reply.code(202).send({ status: 'accepted' })
      },
    )

    app.delete(
      '/auth/me',
      {
        schema: {
          tags: ['account'],
          summary: 'Delete your own account, with its sessions',
          description:
            'Needs `password`, or a sign-in within the last 5 minutes (401 STEP_UP_REQUIRED otherwise).',
          security,
          body: Type.Object(
            { password: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })) },
            { additionalProperties: false, description: 'May be left out with a recent sign-in.' },
          ),
          response: responses({ 204: Type.Null() }),
        },
        // no body at all is `{}`: a recent sign-in needs nothing more (a JSON `null` is still refused)
        preValidation: async (request) => {
          if (request.body === undefined) request.body = {}
        },
        ...sensitiveLimit,
      },
      async (request, reply) => {
        await deleteOwnAccount(deps, authOf(request), request.body)
        cookie.clear(reply)
        return reply.code(204).send(null)
      },
    )
  }
