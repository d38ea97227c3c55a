import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { OAuthError } from '../errors.js'
import { toTesseraError } from './problem.js'

/**
 * The error answers of /oauth/*: RFC 6749 §5.2 JSON `{ error, error_description }`, where every
 * other route answers problem+json. The only place that writes them.
 */

export const OAuthErrorBody = Type.Object(
  { error: Type.String(), error_description: Type.Optional(Type.String()) },
  { description: 'RFC 6749 §5.2 error' },
)

/** Response schemas of an OAuth route: its success shapes plus the RFC 6749 error for 4xx and 5xx. */
export function oauthResponses<T extends Record<number, unknown>>(success: T) {
  const error = {
    description:
      'RFC 6749 error: `invalid_request`, `invalid_client` (401, `WWW-Authenticate: Basic`), `invalid_scope`, ' +
      '`unsupported_grant_type`, `insufficient_scope` (403); `temporarily_unavailable` (429, 503), `server_error` (500)',
    content: { 'application/json': { schema: OAuthErrorBody } },
  }
  return { ...success, '4xx': error, '5xx': error }
}

/** Every answer of an OAuth endpoint, errors included, is kept out of caches (RFC 6749 §5.1). */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
}

/** Writes an OAuth error; `invalid_client` carries the Basic challenge (RFC 6749 §5.2). */
export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  if (error.code === 'invalid_client') reply.header('www-authenticate', 'Basic realm="tessera"')
  return noStore(reply)
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send({ error: error.code, error_description: error.description })
}

/**
 * The error handler of the OAuth routes: an OAuthError as it is; anything the request got wrong
 * before it reached the flow (its media type, size, shape, text) is `invalid_request`; a rate
 * limit or an outage `temporarily_unavailable` with `Retry-After`; a bug `server_error`, logged.
 */
export function oauthErrorHandler(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (error instanceof OAuthError) return sendOAuthError(reply, error)
  const problem = toTesseraError(error)
  const send = (status: number, code: string, description: string) =>
    noStore(reply).code(status).type('application/json; charset=utf-8').send({
      error: code,
      error_description: description,
    })
  if (problem.retryAfter !== undefined) reply.header('retry-after', String(problem.retryAfter))
  if (problem.code === 'RATE_LIMITED') return send(429, 'temporarily_unavailable', problem.detail)
  if (problem.code === 'SERVICE_UNAVAILABLE') {
    request.log.warn({ err: error }, 'service unavailable')
    return send(503, 'temporarily_unavailable', problem.detail)
  }
  if (problem.status >= 500) {
    request.log.error({ err: error }, 'unhandled error')
    return send(500, 'server_error', 'An unexpected error occurred.')
  }
  const fields = problem.errors?.map((field) => `${field.field}: ${field.message}`).join('; ')
  const description =
    problem.code === 'UNSUPPORTED_MEDIA_TYPE'
      ? 'Send the body as application/x-www-form-urlencoded.'
      : problem.code === 'MALFORMED_REQUEST'
        ? 'The request body could not be read.'
        : (fields ?? problem.detail)
  return send(400, 'invalid_request', description)
}
