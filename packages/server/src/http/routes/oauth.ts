import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { OAuthError, TesseraError } from '../../errors.js'
import { grantClientCredentials } from '../../flows/client-credentials.js'
import type { FlowDeps } from '../../flows/deps.js'
import { introspect } from '../../flows/introspect.js'
import { recordClientUse } from '../../flows/service-clients.js'
import type { KNOWN_SCOPES } from '../../scope.js'
import type { ServiceClientRecord } from '../../store/records.js'
import { authenticateClient } from '../client-auth.js'
import { noStore, oauthErrorHandler, oauthResponses } from '../oauth-errors.js'
import { type RouteLimit, rateLimited } from '../rate-limit.js'

const FORM = 'application/x-www-form-urlencoded'

const clientFields = {
  client_id: Type.Optional(Type.String({ description: 'With `client_secret`, in place of HTTP Basic.' })),
  client_secret: Type.Optional(Type.String()),
}

// RFC 6749 §3.2: unrecognised parameters are ignored, so the bodies allow more than they list
const TokenBody = Type.Object(
  {
    grant_type: Type.String({ description: 'Only `client_credentials`.' }),
    scope: Type.Optional(
      Type.String({
        description: "Space-separated; default all the client's scopes. More is `invalid_scope`.",
      }),
    ),
    ...clientFields,
  },
  { additionalProperties: true },
)

const IntrospectBody = Type.Object(
  {
    token: Type.String({ description: 'The token to look at.' }),
    token_type_hint: Type.Optional(
      Type.String({ description: 'Ignored: only access tokens can be active.' }),
    ),
    ...clientFields,
  },
  { additionalProperties: true },
)

const TokenAnswer = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the token expires.' }),
  scope: Type.String({ description: 'The scopes granted, space-separated.' }),
})

const IntrospectionAnswer = Type.Object(
  {
    active: Type.Boolean(),
    sub: Type.Optional(Type.String()),
    sid: Type.Optional(Type.String({ description: "A user's token: its session." })),
    client_id: Type.Optional(Type.String({ description: "A service's token: the client." })),
    scope: Type.Optional(Type.String()),
    roles: Type.Optional(Type.Array(Type.String())),
    exp: Type.Optional(Type.Integer()),
    iat: Type.Optional(Type.Integer()),
    iss: Type.Optional(Type.String()),
    aud: Type.Optional(Type.String()),
    jti: Type.Optional(Type.String()),
    token_type: Type.Optional(Type.Literal('Bearer')),
  },
  { description: 'RFC 7662; exactly `{ "active": false }` for any token that would not be honoured now.' },
)

const INTROSPECT_SCOPE: (typeof KNOWN_SCOPES)[number] = 'introspect'

/**
 * RFC 6749 §3.2: a parameter sent without a value is as if omitted, and none may be sent twice.
 * The form parser makes a repeated one an array; it is refused before the schema sees it.
 */
async function normalizeParameters(request: FastifyRequest): Promise<void> {
  const body: unknown = request.body
  if (typeof body !== 'object' || body === null) return
  const kept: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(body)) {
    if (Array.isArray(value)) {
      throw new OAuthError('invalid_request', `The parameter ${name.slice(0, 40)} is repeated.`)
    }
    if (value !== '') kept[name] = value
  }
  request.body = kept
}

/**
 * POST /oauth/token (the client-credentials grant) and POST /oauth/introspect (RFC 7662), in a
 * scope of their own: form bodies only, RFC 6749 errors, no caching of any answer.
 */
export const oauthRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    // only form bodies here; the JSON routes outside keep refusing them with 415
    app.removeAllContentTypeParsers()
    await app.register(formbody)
    app.setErrorHandler(oauthErrorHandler)
    app.addHook('onRequest', async (_request, reply) => {
      noStore(reply)
    })
    app.addHook('preValidation', normalizeParameters)

    // the client each request authenticated as, for the handler and the per-client limit
    const clients = new WeakMap<FastifyRequest, ServiceClientRecord>()
    const clientOf = (request: FastifyRequest): ServiceClientRecord => {
      const client = clients.get(request)
      if (!client) throw new TesseraError('INTERNAL', { reason: 'an OAuth route ran without its client' })
      return client
    }
    const authenticated = (name: string) => {
      const limit: RouteLimit = {
        name,
        rule: deps.config.limits.oauth,
        key: (request) => clientOf(request).id,
      }
      const { preHandler, onSend } = rateLimited(deps.limits, [limit])
      return {
        preHandler: [
          async (request: FastifyRequest) => {
            const client = await authenticateClient(request, deps.stores)
            clients.set(request, client)
            await recordClientUse(deps, client)
          },
          ...(preHandler ? [preHandler] : []),
        ],
        ...(onSend ? { onSend } : {}),
      }
    }
    const security = [{ basic: [] }]

    app.post(
      '/oauth/token',
      {
        schema: {
          tags: ['oauth'],
          summary: 'A token for a service: the client-credentials grant (RFC 6749 §4.4)',
          description:
            'The client authenticates with HTTP Basic (`urlencode(id):urlencode(secret)`) or the ' +
            '`client_id` and `client_secret` fields, not both. The token is an RFC 9068 JWT with ' +
            '`sub` = `client_id` = the client id and `scope`; user Bearer routes refuse it.',
          consumes: [FORM],
          security,
          body: TokenBody,
          response: oauthResponses({ 200: TokenAnswer }),
        },
        ...authenticated('oauth-token:client'),
      },
      async (request, reply) => {
        if (request.body.grant_type !== 'client_credentials') {
          throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported.')
        }
        const granted = await grantClientCredentials(deps, clientOf(request), request.body.scope)
        return noStore(reply).send({
          access_token: granted.accessToken,
          token_type: 'Bearer' as const,
          expires_in: granted.expiresIn,
          scope: granted.scope,
        })
      },
    )

    app.post(
      '/oauth/introspect',
      {
        schema: {
          tags: ['oauth'],
          summary: 'Whether an access token is active now (RFC 7662)',
          description:
            'For a client with the `introspect` scope (403 `insufficient_scope` without it). Active ' +
            "for a user's token of a live session that no change made stale, and for a service's " +
            'token of a client not revoked; `{ "active": false }` for anything else, with no reason.',
          consumes: [FORM],
          security,
          body: IntrospectBody,
          response: oauthResponses({ 200: IntrospectionAnswer }),
        },
        ...authenticated('oauth-introspect:client'),
      },
      async (request, reply) => {
        if (!clientOf(request).scopes.includes(INTROSPECT_SCOPE)) {
          throw new OAuthError('insufficient_scope', 'The client lacks the introspect scope.')
        }
        return noStore(reply).send(await introspect(deps, request.body.token))
      },
    )
  }
