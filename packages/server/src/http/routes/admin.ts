import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { TesseraError } from '../../errors.js'
import { type AdminCaller, authenticateAdmin } from '../../flows/admin/admin-auth.js'
import {
  adminCreateUser,
  adminUpdateUser,
  listUsers,
  revokeUserSessions,
  userDetail,
  userSessions,
} from '../../flows/admin/admin-users.js'
import { queryAuditLog } from '../../flows/admin/audit-log.js'
import type { FlowDeps } from '../../flows/deps.js'
import { deleteUser, disableUser, enableUser } from '../../flows/manage-users.js'
import { resetMfa } from '../../flows/mfa/reset-mfa.js'
import type { AuthEventRecord, UserRecord } from '../../store/records.js'
import { bearerToken } from '../bearer.js'
import { Email, passwordSchema, responses, SessionView, UserView } from '../schemas.js'
import { sessionView, userView } from '../views.js'
import { IdentityView, identityView } from './identities.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on the /admin routes once the caller checked out as an administrator. */
    adminCaller?: AdminCaller
  }
}

const security = [{ bearerAuth: [] }]
const tags = ['admin']

const RoleName = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.:-]{0,63}$' })
const Roles = Type.Array(RoleName, { maxItems: 64 })
const Name = Type.Union([Type.String({ maxLength: 200 }), Type.Null()])
const AppMetadata = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      "A JSON object of at most 2 KiB serialised; the access tokens' `app` claim (left out when empty).",
  },
)
/** A page size in a query string (no type coercion: digits, checked to 1..200 by the route). */
const Limit = Type.String({ pattern: '^[0-9]{1,3}$', description: '1 to 200; default 50.' })
const Cursor = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'The `nextCursor` of the previous page, as given.',
})
const UserId = Type.Object({ id: Type.String({ format: 'uuid' }) })

const AdminUserView = Type.Composite([
  UserView,
  Type.Object({
    disabledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastLoginAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  }),
])

const AdminUserDetailView = Type.Composite([
  AdminUserView,
  Type.Object({
    mfa: Type.Object({
      totp: Type.Boolean(),
      passkeys: Type.Integer(),
      recoveryCodesLeft: Type.Integer(),
    }),
    identities: Type.Array(IdentityView),
  }),
])

const AuditEventView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.String(),
  userId: Type.Union([Type.String(), Type.Null()]),
  sessionId: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Object({}, { additionalProperties: true, description: 'Admin actions carry `actor`.' }),
  createdAt: Type.String({ format: 'date-time' }),
})

const adminUserView = (user: UserRecord) => ({
  ...userView(user),
  disabledAt: user.disabledAt?.toISOString() ?? null,
  lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
})

const auditEventView = (event: AuthEventRecord) => ({
  id: event.id,
  type: event.type,
  userId: event.userId,
  sessionId: event.sessionId,
  ip: event.ip,
  userAgent: event.userAgent,
  detail: event.detail,
  createdAt: event.createdAt.toISOString(),
})

function pageSize(raw: string | undefined): number {
  if (raw === undefined) return 50
  const limit = Number(raw)
  if (limit < 1 || limit > 200) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'limit', message: 'must be from 1 to 200' }],
    })
  }
  return limit
}

/**
 * `/admin/*` (API.md, "Administration and self-service"): a user with TESSERA_ADMIN_ROLE or a
 * service client with the `admin` scope manages users and reads the audit log. Every change is
 * audited with its actor under the webhook type names.
 */
export const adminRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.decorateRequest('adminCaller', undefined)
    app.addHook('onRequest', async (request) => {
      request.adminCaller = await authenticateAdmin(deps, bearerToken(request))
    })
    const actorOf = (request: FastifyRequest): string => {
      if (!request.adminCaller) throw new TesseraError('INTERNAL', { reason: 'admin hook did not run' })
      return request.adminCaller.actor
    }
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('cache-control', 'no-store')
      return payload
    })

    app.get(
      '/admin/users',
      {
        schema: {
          tags,
          summary: 'List users, oldest first, with search and filters',
          description:
            '`query` matches an email prefix or a name substring (case-insensitive). Pages by an opaque cursor, ' +
            'stable while users are added: follow `nextCursor` (null on the last page).',
          security,
          querystring: Type.Object(
            {
              query: Type.Optional(Type.String({ maxLength: 254 })),
              role: Type.Optional(RoleName),
              status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
              limit: Type.Optional(Limit),
              cursor: Type.Optional(Cursor),
            },
            { additionalProperties: false },
          ),
          response: responses({
            200: Type.Object({
              users: Type.Array(AdminUserView),
              nextCursor: Type.Union([Type.String(), Type.Null()]),
            }),
          }),
        },
      },
      async (request) => {
        const { query, role, status, limit, cursor } = request.query
        const page = await listUsers(deps, { query, role, status, limit: pageSize(limit), cursor })
        return { users: page.users.map(adminUserView), nextCursor: page.nextCursor }
      },
    )

    app.post(
      '/admin/users',
      {
        schema: {
          tags,
          summary: 'Create a user (optionally mailing a link to choose a password)',
          description:
            'Without `password` the account has none until its user chooses one: `invite: true` mails a ' +
            'set-password link (living as long as a verification link). Roles default to `["user"]`.',
          security,
          body: Type.Object(
            {
              email: Email,
              name: Type.Optional(Name),
              roles: Type.Optional(Roles),
              password: Type.Optional(passwordSchema(deps.config)),
              emailVerified: Type.Optional(Type.Boolean()),
              appMetadata: Type.Optional(AppMetadata),
              invite: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: responses({ 201: Type.Object({ user: AdminUserView }) }),
        },
      },
      async (request, reply) => {
        const user = await adminCreateUser(deps, actorOf(request), request.body)
        return reply.code(201).send({ user: adminUserView(user) })
      },
    )

    app.get(
      '/admin/users/:id',
      {
        schema: {
          tags,
          summary: 'A user with its status, second factors, provider identities and last sign-in',
          security,
          params: UserId,
          response: responses({ 200: Type.Object({ user: AdminUserDetailView }) }),
        },
      },
      async (request) => {
        const { user, mfa, identities } = await userDetail(deps, request.params.id)
        return { user: { ...adminUserView(user), mfa, identities: identities.map(identityView) } }
      },
    )

    app.patch(
      '/admin/users/:id',
      {
        schema: {
          tags,
          summary: 'Change a user',
          description:
            'A change to roles, email, emailVerified or appMetadata makes the access tokens issued before it ' +
            'stale at once (TOKEN_REVOKED, and a `user` revocation event); a refresh gets the new claims. A new ' +
            'email is unverified unless `emailVerified` is true.',
          security,
          params: UserId,
          body: Type.Object(
            {
              name: Type.Optional(Name),
              email: Type.Optional(Email),
              roles: Type.Optional(Roles),
              emailVerified: Type.Optional(Type.Boolean()),
              appMetadata: Type.Optional(AppMetadata),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: Type.Object({ user: AdminUserView }) }),
        },
      },
      async (request) => {
        const user = await adminUpdateUser(deps, actorOf(request), request.params.id, request.body)
        return { user: adminUserView(user) }
      },
    )

    app.post(
      '/admin/users/:id/disable',
      {
        schema: {
          tags,
          summary: 'Disable a user: every session is revoked, login answers ACCOUNT_DISABLED',
          security,
          params: UserId,
          response: responses({ 204: Type.Null() }),
        },
      },
      async (request, reply) => {
        await disableUser(deps, request.params.id, actorOf(request))
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/admin/users/:id/enable',
      {
        schema: {
          tags,
          summary: 'Enable a disabled user (revoked sessions stay revoked)',
          security,
          params: UserId,
          response: responses({ 204: Type.Null() }),
        },
      },
      async (request, reply) => {
        await enableUser(deps, request.params.id, actorOf(request))
        return reply.code(204).send(null)
      },
    )

    app.delete(
      '/admin/users/:id',
      {
        schema: {
          tags,
          summary: 'Delete a user for good, with its sessions',
          security,
          params: UserId,
          response: responses({ 204: Type.Null() }),
        },
      },
      async (request, reply) => {
        await deleteUser(deps, request.params.id, actorOf(request))
        return reply.code(204).send(null)
      },
    )

    app.get(
      '/admin/users/:id/sessions',
      {
        schema: {
          tags,
          summary: "A user's live sessions, most recently used first",
          security,
          params: UserId,
          response: responses({ 200: Type.Object({ sessions: Type.Array(SessionView) }) }),
        },
      },
      async (request) => {
        const sessions = await userSessions(deps, request.params.id)
        return { sessions: sessions.map((session) => sessionView(session, '')) }
      },
    )

    app.delete(
      '/admin/users/:id/sessions',
      {
        schema: {
          tags,
          summary: 'Revoke every session of a user',
          security,
          params: UserId,
          response: responses({ 204: Type.Null() }),
        },
      },
      async (request, reply) => {
        await revokeUserSessions(deps, actorOf(request), request.params.id)
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/admin/users/:id/mfa/reset',
      {
        schema: {
          tags,
          summary: 'Remove every second factor of a user (TOTP, recovery codes, passkeys)',
          security,
          params: UserId,
          response: responses({ 204: Type.Null() }),
        },
      },
      async (request, reply) => {
        await resetMfa(deps, request.params.id, actorOf(request))
        return reply.code(204).send(null)
      },
    )

    app.get(
      '/admin/audit',
      {
        schema: {
          tags,
          summary: 'The audit log, newest first, filtered by user, type and time',
          description:
            '`since` is inclusive, `until` exclusive. Admin actions have the webhook type names ' +
            '(`user.disabled`, …) and `detail.actor`. Follow `nextCursor` (null on the last page).',
          security,
          querystring: Type.Object(
            {
              userId: Type.Optional(Type.String({ format: 'uuid' })),
              type: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
              since: Type.Optional(Type.String({ format: 'date-time' })),
              until: Type.Optional(Type.String({ format: 'date-time' })),
              limit: Type.Optional(Limit),
              cursor: Type.Optional(Cursor),
            },
            { additionalProperties: false },
          ),
          response: responses({
            200: Type.Object({
              events: Type.Array(AuditEventView),
              nextCursor: Type.Union([Type.String(), Type.Null()]),
            }),
          }),
        },
      },
      async (request) => {
        const { userId, type, since, until, limit, cursor } = request.query
        const page = await queryAuditLog(deps, {
          userId,
          type,
          since: since === undefined ? undefined : new Date(since),
          until: until === undefined ? undefined : new Date(until),
          limit: pageSize(limit),
          cursor,
        })
        return { events: page.events.map(auditEventView), nextCursor: page.nextCursor }
      },
    )
  }
