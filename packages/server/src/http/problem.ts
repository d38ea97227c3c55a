import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { EMAIL_PATTERN } from '../email-address.js'
import { ERRORS, type ErrorCode, type FieldError, TesseraError } from '../errors.js'
import { isDatabaseUnavailable } from '../store/errors.js'

/** Seconds a client should wait after a 503 before trying again. */
const UNAVAILABLE_RETRY_AFTER = 5

/** The problem+json body of an error: type, title, status, code, detail (and field errors). */
export function problemBody(error: TesseraError): string {
  const { status, title } = ERRORS[error.code]
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title,
    status,
    code: error.code,
    detail: error.detail,
  }
  if (error.errors) body.errors = error.errors
  return JSON.stringify(body)
}

/** Writes an RFC 9457 problem+json response; with problemBody, the only place that writes one. */
export function sendProblem(reply: FastifyReply, error: TesseraError): FastifyReply {
  const { status } = ERRORS[error.code]
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
  if (error.code === 'TOKEN_MISSING') reply.header('www-authenticate', 'Bearer realm="tessera"')
  else if (
    error.code === 'TOKEN_INVALID' ||
    error.code === 'TOKEN_EXPIRED' ||
    error.code === 'TOKEN_REVOKED'
  ) {
    reply.header('www-authenticate', 'Bearer realm="tessera", error="invalid_token"')
  } else if (error.code === 'STEP_UP_REQUIRED') {
    reply.header('www-authenticate', stepUpChallenge(error))
  }
  return reply.code(status).type('application/problem+json').send(problemBody(error))
}

/** RFC 9470: the Bearer challenge that asks for a fresher or stronger sign-in. */
function stepUpChallenge(error: TesseraError): string {
  const params = [
    'realm="tessera"',
    'error="insufficient_user_authentication"',
    `error_description="${error.detail.replaceAll('"', "'")}"`,
  ]
  if (error.stepUp?.acrValues !== undefined) params.push(`acr_values="${error.stepUp.acrValues}"`)
  if (error.stepUp?.maxAge !== undefined) params.push(`max_age="${error.stepUp.maxAge}"`)
  return `Bearer ${params.join(', ')}`
}

const FRAMEWORK_CODES: Partial<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_REQUEST',
}

/** Ajv's message, in words for the two that would otherwise quote a schema. */
function fieldMessage(keyword: string, params: Record<string, unknown>, message: string | undefined): string {
  if (keyword === 'additionalProperties') return 'is not an allowed property'
  if (keyword === 'pattern' && params.pattern === EMAIL_PATTERN) return 'must be an email address'
  return message ?? 'is invalid'
}

/** Turns anything thrown while serving a request into a {@link TesseraError}. */
export function toTesseraError(error: unknown): TesseraError {
  if (error instanceof TesseraError) return error
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation) {
    const errors: FieldError[] = fastifyError.validation.map((issue) => {
      const params = issue.params as Record<string, unknown>
      const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.')
      // the field a missing or unexpected property names, rather than the object holding it
      const named =
        typeof params.missingProperty === 'string'
          ? params.missingProperty
          : typeof params.additionalProperty === 'string'
            ? params.additionalProperty
            : undefined
      const field = named
        ? path
          ? `${path}.${named}`
          : named
        : path || fastifyError.validationContext || 'body'
      return { field, message: fieldMessage(issue.keyword, params, issue.message) }
    })
    return new TesseraError('VALIDATION_FAILED', { errors, cause: error })
  }
  const mapped = fastifyError.code ? FRAMEWORK_CODES[fastifyError.code] : undefined
  if (mapped) return new TesseraError(mapped, { cause: error })
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return new TesseraError('MALFORMED_REQUEST', { cause: error })
  }
  if (isDatabaseUnavailable(error)) {
    return new TesseraError('SERVICE_UNAVAILABLE', { cause: error, retryAfter: UNAVAILABLE_RETRY_AFTER })
  }
  if (fastifyError.statusCode === 404) return new TesseraError('NOT_FOUND', { cause: error })
  if (fastifyError.statusCode === 503) {
    return new TesseraError('SERVICE_UNAVAILABLE', { cause: error, retryAfter: UNAVAILABLE_RETRY_AFTER })
  }
  if (
    fastifyError.statusCode !== undefined &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return new TesseraError('MALFORMED_REQUEST', {
      cause: error,
      detail: 'The request could not be processed.',
    })
  }
  return new TesseraError('INTERNAL', { cause: error })
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = toTesseraError(error)
  if (problem.code === 'INTERNAL') request.log.error({ err: error }, 'unhandled error')
  else if (problem.code === 'SERVICE_UNAVAILABLE') {
    // an overload (hashing queue full, shutting down) has no cause, and a flood of those must not
    // flood the log; a failure (the database, a metrics scrape across workers) is worth a warning
    if (problem.cause === undefined) request.log.debug({ detail: problem.detail }, 'service unavailable')
    else
      request.log.warn(
        { err: error },
        isDatabaseUnavailable(error) ? 'database unavailable' : 'service unavailable',
      )
  }
  return sendProblem(reply, problem)
}
