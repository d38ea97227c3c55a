/** The parts of an OpenAPI 3 document the fuzzer reads, narrowed from the JSON the server serves. */

export type JsonObject = Record<string, unknown>

export const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export interface MediaSchema {
  /** `application/json`, lower case, without parameters. */
  mediaType: string
  schema: JsonObject | undefined
}

export interface ResponseSpec {
  /** As written in the document: `200`, `4XX`, `default`. */
  key: string
  content: MediaSchema[]
}

export interface Parameter {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required: boolean
  schema: JsonObject
}

export interface Operation {
  method: string
  /** The path template, `/auth/sessions/{id}`. */
  path: string
  parameters: Parameter[]
  requestBody: { required: boolean; content: MediaSchema[] } | undefined
  responses: ResponseSpec[]
  /** Whether the operation names a security requirement (a Bearer token). */
  secured: boolean
}

export interface OpenApiDocument {
  operations: Operation[]
  /** `components.schemas`, which `$ref`s point into. */
  schemas: JsonObject
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const

// the docs page and the document itself are hidden or static: nothing there reads input
const isSkippedPath = (path: string): boolean => path.startsWith('/docs') || path === '/openapi.json'

const objectAt = (value: JsonObject, key: string): JsonObject => {
  const found = value[key]
  return isJsonObject(found) ? found : {}
}

/** `application/json` of `Application/JSON; charset=utf-8`. */
export const mediaTypeOf = (contentType: string): string =>
  (contentType.split(';')[0] ?? '').trim().toLowerCase()

function readContent(value: unknown): MediaSchema[] {
  if (!isJsonObject(value)) return []
  return Object.entries(value).map(([mediaType, media]) => {
    const schema = isJsonObject(media) ? media.schema : undefined
    return { mediaType: mediaTypeOf(mediaType), schema: isJsonObject(schema) ? schema : undefined }
  })
}

function readParameter(value: unknown): Parameter | undefined {
  if (!isJsonObject(value) || typeof value.name !== 'string') return undefined
  const location = value.in
  if (location !== 'path' && location !== 'query' && location !== 'header' && location !== 'cookie') {
    return undefined
  }
  return {
    name: value.name,
    in: location,
    required: value.required === true || location === 'path',
    schema: isJsonObject(value.schema) ? value.schema : {},
  }
}

// `security: [{}]` would mean "optionally anonymous": only a named scheme secures the operation
const namesASecurityScheme = (security: unknown): boolean =>
  Array.isArray(security) &&
  security.some((requirement) => isJsonObject(requirement) && Object.keys(requirement).length > 0)

function readOperation(
  method: string,
  path: string,
  value: JsonObject,
  documentSecurity: unknown,
): Operation {
  const parameters = Array.isArray(value.parameters) ? value.parameters : []
  const body = value.requestBody
  return {
    method: method.toUpperCase(),
    path,
    parameters: parameters.map(readParameter).filter((parameter) => parameter !== undefined),
    requestBody: isJsonObject(body)
      ? { required: body.required === true, content: readContent(body.content) }
      : undefined,
    responses: Object.entries(objectAt(value, 'responses')).map(([key, response]) => ({
      key,
      content: isJsonObject(response) ? readContent(response.content) : [],
    })),
    secured: namesASecurityScheme(value.security ?? documentSecurity),
  }
}

/** Every operation of the document, except the docs page and the document itself. */
export function readOpenApi(document: unknown): OpenApiDocument {
  if (!isJsonObject(document) || !isJsonObject(document.paths)) {
    throw new Error('the OpenAPI document has no `paths` object')
  }
  const operations: Operation[] = []
  for (const [path, item] of Object.entries(document.paths)) {
    if (isSkippedPath(path) || !isJsonObject(item)) continue
    for (const method of METHODS) {
      const operation = item[method]
      if (isJsonObject(operation)) operations.push(readOperation(method, path, operation, document.security))
    }
  }
  return { operations, schemas: objectAt(objectAt(document, 'components'), 'schemas') }
}

/** The response a status falls under: its own entry, else its range (`4XX`), else `default`. */
export function responseSpecFor(operation: Operation, status: number): ResponseSpec | undefined {
  const exact = String(status)
  const range = `${exact[0]}XX`
  return (
    operation.responses.find((spec) => spec.key === exact) ??
    operation.responses.find((spec) => spec.key.toUpperCase() === range) ??
    operation.responses.find((spec) => spec.key === 'default')
  )
}
