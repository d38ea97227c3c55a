import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { LightMyRequestResponse } from 'fastify'
import { REFRESH_COOKIE } from './credential-pool.js'
import {
  isJsonObject,
  type JsonObject,
  mediaTypeOf,
  type OpenApiDocument,
  type Operation,
  responseSpecFor,
} from './openapi-document.js'
import type { ResolvedRequest } from './resolve-request.js'

/** What the checks need to know about the request behind a response. */
export type CheckedRequest = Pick<
  ResolvedRequest,
  'method' | 'operation' | 'headers' | 'payload' | 'pathParams' | 'forged'
>

/** The error table of the server, read at run time: code to HTTP status. */
export type ErrorTable = Readonly<Record<string, { readonly status: number }>>

export interface ResponseChecker {
  /** Every rule the response breaks, in words; empty when it keeps them all. */
  check(request: CheckedRequest, response: LightMyRequestResponse): string[]
}

const PROBLEM_TYPE = 'application/problem+json'
const TOKEN_KEYS = new Set(['accessToken', 'refreshToken', 'access_token', 'refresh_token'])
// a JWS compact serialization: what an access token looks like wherever it hides in a body
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/

const isJsonMedia = (mediaType: string): boolean =>
  mediaType === 'application/json' || mediaType.endsWith('+json')

type Parsed = { ok: true; value: unknown } | { ok: false }

function parseBody(body: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(body) }
  } catch {
    return { ok: false }
  }
}

const contentTypeOf = (response: LightMyRequestResponse): string => {
  const header = response.headers['content-type']
  return typeof header === 'string' ? header : ''
}

/** Keys of a JSON value at any depth. */
function* keysOf(value: unknown): Generator<string> {
  if (Array.isArray(value)) {
    for (const item of value) yield* keysOf(item)
  } else if (isJsonObject(value)) {
    for (const [key, nested] of Object.entries(value)) {
      yield key
      yield* keysOf(nested)
    }
  }
}

function checkProblem(response: LightMyRequestResponse, errors: ErrorTable, bodyless: boolean): string[] {
  const status = response.statusCode
  const problems: string[] = []
  const mediaType = mediaTypeOf(contentTypeOf(response))
  if (mediaType !== PROBLEM_TYPE) {
    problems.push(`error content-type is "${contentTypeOf(response)}", not ${PROBLEM_TYPE}`)
  }
  if (bodyless) return problems
  const parsed = parseBody(response.body)
  if (!parsed.ok || !isJsonObject(parsed.value)) return [...problems, 'error body is not a JSON object']
  const body = parsed.value
  for (const field of ['type', 'title', 'code', 'detail']) {
    if (typeof body[field] !== 'string') problems.push(`problem field "${field}" is missing or not a string`)
  }
  if (body.status !== status) {
    problems.push(`problem status ${JSON.stringify(body.status)} is not the HTTP status ${status}`)
  }
  const code = body.code
  if (typeof code === 'string') {
    const entry = Object.hasOwn(errors, code) ? errors[code] : undefined
    if (!entry) problems.push(`problem code "${code}" is not in ERRORS`)
    else if (entry.status !== status) {
      problems.push(`problem code ${code} has status ${entry.status} in ERRORS, not ${status}`)
    }
  }
  return problems
}

/** The OAuth endpoints' error codes (RFC 6749 §5.2, RFC 6750 §3.1) with the statuses they take. */
const OAUTH_ERROR_STATUSES: Readonly<Record<string, readonly number[]>> = {
  invalid_request: [400],
  invalid_client: [401],
  invalid_scope: [400],
  unsupported_grant_type: [400],
  insufficient_scope: [403],
  temporarily_unavailable: [429, 503],
  server_error: [500],
}

/** /oauth/* answers errors as RFC 6749 JSON, never cached, `invalid_client` with a Basic challenge. */
function checkOAuthError(response: LightMyRequestResponse, bodyless: boolean): string[] {
  const status = response.statusCode
  const problems: string[] = []
  if (response.headers['cache-control'] !== 'no-store' || response.headers.pragma !== 'no-cache') {
    problems.push('an OAuth error without Cache-Control: no-store and Pragma: no-cache')
  }
  if (mediaTypeOf(contentTypeOf(response)) !== 'application/json') {
    problems.push(`OAuth error content-type is "${contentTypeOf(response)}", not application/json`)
  }
  if (bodyless) return problems
  const parsed = parseBody(response.body)
  if (!parsed.ok || !isJsonObject(parsed.value)) return [...problems, 'error body is not a JSON object']
  const { error, error_description: description } = parsed.value
  const statuses = typeof error === 'string' ? OAUTH_ERROR_STATUSES[error] : undefined
  if (!statuses) problems.push(`OAuth error ${JSON.stringify(error)} is not an RFC 6749 code`)
  else if (!statuses.includes(status)) problems.push(`OAuth error ${String(error)} with status ${status}`)
  if (description !== undefined && typeof description !== 'string') {
    problems.push('error_description is not a string')
  }
  if (error === 'invalid_client' && response.headers['www-authenticate'] !== 'Basic realm="tessera"') {
    problems.push('invalid_client without WWW-Authenticate: Basic realm="tessera"')
  }
  return problems
}

const isOAuthOperation = (operation: Operation | undefined): boolean =>
  operation?.path.startsWith('/oauth/') === true

function checkNoTokens(response: LightMyRequestResponse): string[] {
  const problems: string[] = []
  const parsed = parseBody(response.body)
  const leaked = parsed.ok ? [...keysOf(parsed.value)].filter((key) => TOKEN_KEYS.has(key)) : []
  if (leaked.length > 0) problems.push(`error body carries ${leaked.join(', ')}`)
  if (JWT_SHAPE.test(response.body)) problems.push('error body carries something shaped like a JWT')
  const cookie = response.cookies.find(
    (candidate) => candidate.name === REFRESH_COOKIE && candidate.value !== '',
  )
  if (cookie) problems.push(`error response sets a non-empty ${REFRESH_COOKIE} cookie`)
  return problems
}

const errorsOf = (validate: ValidateFunction): string =>
  (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''}`).join('; ')

/**
 * Checks every response against the contract: no 5xx, problem+json errors whose code is in the
 * server's table with the same status, no tokens in an error, bodies valid against the schema
 * and media type the document declares for their status, and no success for a request the
 * document refuses (an extra property, a bad path parameter, a body that is not JSON) or on a
 * secured route to a forged, expired or made-up token.
 */
export function createResponseChecker(document: OpenApiDocument, errors: ErrorTable): ResponseChecker {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
  addFormats.default(ajv)
  const validators = new Map<JsonObject, ValidateFunction>()

  // `#/components/schemas/...` resolves against the root: the schema travels with the components
  function validatorFor(schema: JsonObject): ValidateFunction {
    const known = validators.get(schema)
    if (known) return known
    const compiled = ajv.compile({ components: { schemas: document.schemas }, allOf: [schema] })
    validators.set(schema, compiled)
    return compiled
  }

  function checkDeclared(
    operation: Operation,
    response: LightMyRequestResponse,
    bodyless: boolean,
  ): string[] {
    const status = response.statusCode
    const spec = responseSpecFor(operation, status)
    if (!spec) {
      return status < 300
        ? [`status ${status} is not declared for ${operation.method} ${operation.path}`]
        : []
    }
    if (spec.content.length === 0 || bodyless) return []
    const problems: string[] = []
    const mediaType = mediaTypeOf(contentTypeOf(response))
    const declared = spec.content.find((media) => media.mediaType === mediaType)
    if (!declared) {
      const listed = spec.content.map((media) => media.mediaType).join(', ')
      problems.push(
        `content-type "${mediaType}" is not what the document declares for ${spec.key} (${listed})`,
      )
    }
    const schema = (declared ?? spec.content.find((media) => isJsonMedia(media.mediaType)))?.schema
    if (!schema || !isJsonMedia(mediaType)) return problems
    const parsed = parseBody(response.body)
    if (!parsed.ok) return [...problems, `body is not JSON though the response says ${mediaType}`]
    const validate = validatorFor(schema)
    if (!validate(parsed.value)) {
      problems.push(`body does not match the schema declared for ${spec.key}: ${errorsOf(validate)}`)
    }
    return problems
  }

  /** Why the document refuses this request (path parameters, content-type, body), if it does. */
  function refusal(operation: Operation, request: CheckedRequest): string | undefined {
    for (const parameter of operation.parameters.filter((candidate) => candidate.in === 'path')) {
      const value = request.pathParams[parameter.name]
      if (value === undefined) return `path parameter ${parameter.name} is not valid percent-encoded UTF-8`
      const validate = validatorFor(parameter.schema)
      if (!validate(value)) {
        return `path parameter ${parameter.name} does not match its schema: ${errorsOf(validate)}`
      }
    }
    const body = operation.requestBody
    if (!body || body.content.length === 0) return undefined
    const { payload } = request
    if (payload === undefined || payload.length === 0) {
      return body.required ? 'the required body is missing' : undefined
    }
    const mediaType = mediaTypeOf(request.headers['content-type'] ?? '')
    const declared = body.content.find((media) => media.mediaType === mediaType)
    if (!declared) return `content-type "${mediaType}" is not one the operation declares`
    if (!declared.schema || !isJsonMedia(mediaType)) return undefined
    const text = typeof payload === 'string' ? payload : payload.toString('utf8')
    // RFC 8259 8.1: a parser may ignore a byte order mark
    const parsed = parseBody(text.replace(/^\ufeff/, ''))
    if (!parsed.ok) return 'the body is not JSON'
    const validate = validatorFor(declared.schema)
    return validate(parsed.value)
      ? undefined
      : `the body does not match the declared schema: ${errorsOf(validate)}`
  }

  return {
    check(request, response) {
      const status = response.statusCode
      // a HEAD answer has headers only (RFC 9110 9.3.2); a 304 has no content either
      const bodyless = request.method === 'HEAD' || status === 304
      const problems: string[] = []
      if (status >= 500) problems.push(`status ${status}: no request may cause a server error`)
      if (status >= 400) {
        problems.push(
          ...(isOAuthOperation(request.operation)
            ? checkOAuthError(response, bodyless)
            : checkProblem(response, errors, bodyless)),
          ...checkNoTokens(response),
        )
      }
      if (request.operation) problems.push(...checkDeclared(request.operation, response, bodyless))
      const success = status >= 200 && status < 300
      const refused = request.operation && success ? refusal(request.operation, request) : undefined
      if (refused) problems.push(`answered ${status} to a request the document refuses: ${refused}`)
      if (success && request.operation?.secured && request.forged) {
        problems.push(
          `answered ${status} on a secured route to a token no server may accept: ${request.forged}`,
        )
      }
      return problems
    },
  }
}
