import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS, type ErrorCode, type FieldError, TesseraError } from '../errors.js'
import { isDatabaseUnavailable } from '../store/errors.js'

/** Seconds a client should wait after a 503 before trying again. */
const UNAVAILABLE_RETRY_AFTER = 5

/** Writes an RFC 9457 problem+json response. The only place that does. */
export function sendProblem(reply: FastifyReply, error: TesseraError): FastifyReply {
  const { status, title } = ERRORS[error.code]
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
  if (error.code === 'TOKEN_MISSING') reply.header('www-authenticate', 'Bearer realm="tessera"')
  else if (error.code === 'TOKEN_INVALID' || error.code === 'TOKEN_EXPIRED') {
    reply.header('www-authenticate', 'Bearer realm="tessera", error="invalid_token"')
  }
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title,
    status,
    code: error.code,
    detail: error.detail,
  }
  if (error.errors) body.errors = error.errors
  return reply.code(status).type('application/problem+json').send(JSON.stringify(body))
}

const FRAMEWORK_CODES: Partial<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_REQUEST',
}

/** Turns anything thrown while serving a request into a {@link TesseraError}. */
export function toTesseraError(error: unknown): TesseraError {
  if (error instanceof TesseraError) return error
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation) {
    const errors: FieldError[] = fastifyError.validation.map((issue) => {
      const params = issue.params as Record<string, unknown>
      const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.')
      const missing = typeof params.missingProperty === 'string' ? params.missingProperty : undefined
      const field = missing
        ? path
          ? `${path}.${missing}`
          : missing
        : path || fastifyError.validationContext || 'body'
      return { field, message: issue.message ?? 'is invalid' }
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
