import fc from 'fast-check'
import { type TokenPlan, tokenPlanArbitrary } from './forged-token.js'
import { nastyString } from './nasty-strings.js'
import type { OpenApiDocument, Operation, Parameter } from './openapi-document.js'
import { invalidArbitrary, type SchemaContext, validArbitrary } from './schema-arbitrary.js'

/**
 * A request as fast-check draws it: plain data, printable in a counterexample. Credentials are
 * picks into the pool (`pick % pool size`), resolved when the request is sent, because the pool
 * changes as requests log out, refresh and change passwords.
 */
export interface RequestPlan {
  route: RoutePlan
  params: Record<string, ParamPlan>
  query: QueryPlan
  body: BodyPlan
  auth: AuthPlan
  cookie: CookiePlan
  origin: string | undefined
  /** Fill `email`, `password`, `currentPassword`, `refreshToken`, `token` of a JSON body from the pool. */
  fill: number | undefined
  headers: Record<string, string>
}

export type RoutePlan =
  /** An operation of the document, by index, with its method and template for the reader. */
  | { kind: 'operation'; index: number; method: string; path: string }
  /** A route the document does not list: a hidden page, an undeclared method, an unknown path. */
  | { kind: 'other'; method: string; url: string }

export type ParamPlan =
  | { kind: 'value'; value: string }
  /** Written into the URL as is: `%zz`, `%00`, `..`. */
  | { kind: 'raw'; text: string }
  | { kind: 'session'; pick: number }
  | { kind: 'long'; length: number; unit: string }

export interface QueryPlan {
  declared: Record<string, string>
  raw: string | undefined
}

export type BodyPlan =
  | { kind: 'none'; contentType: string | undefined }
  /** `valid` says what the value was drawn as; the checks validate what is sent themselves. */
  | { kind: 'json'; value: unknown; contentType: string | undefined; valid: boolean }
  | { kind: 'text'; text: string; contentType: string | undefined }
  | { kind: 'bytes'; bytes: number[]; contentType: string | undefined }
  | { kind: 'deep'; depth: number; contentType: string | undefined }
  | { kind: 'oversized'; length: number; contentType: string | undefined }

export type AuthPlan =
  | { kind: 'none' }
  | { kind: 'pool'; pick: number; scheme: string }
  | { kind: 'mangled'; pick: number; how: 'truncate' | 'append' | 'flip' | 'upper' | 'twice' }
  | { kind: 'raw'; value: string }
  | { kind: 'token'; token: TokenPlan }
  | { kind: 'metrics' }

export type CookiePlan =
  | { kind: 'none' }
  | { kind: 'pool'; pick: number }
  | { kind: 'raw'; header: string }
  /** A garbage `tessera_refresh` first, then a real one. */
  | { kind: 'twice'; pick: number }

export interface PlanOptions {
  document: OpenApiDocument
  /** The origin the server allows for cookie endpoints. */
  allowedOrigin: string
}

// -------------------------------------------------------------------------------------------------
// routes

/** Routes the document hides (pages for people, their assets): fuzzed too, by hand. */
const HIDDEN_PATHS = [
  '/reset-password',
  '/verify-email',
  '/reset-password/',
  '/verify-email/?token=abc',
  '/pages/common.js',
  '/pages/reset-password.js',
  '/pages/verify-email.js',
  '/pages/pages.css',
] as const

/** Paths no route serves, some a normalisation away from one that does. */
const UNKNOWN_PATHS = [
  '/',
  '/auth',
  '/auth/',
  '/AUTH/ME',
  '/auth/me/',
  '//auth//me',
  '/auth/me/..',
  '/auth/./me',
  '/auth/me;jsessionid=1',
  '/auth/me%00',
  '/auth/me%2f',
  '/%zz',
  '/auth/%',
  '/admin/users',
  '/oauth/authorize',
  '/.well-known/',
  '/.well-known/jwks.json/../../etc/passwd',
  '/healthz.json',
  `/${'a'.repeat(3000)}`,
] as const

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/** A path segment made of anything, percent-encoded so it is a URL at all. */
export function encodeSegment(value: string): string {
  // lone surrogates have no UTF-8: written as the bytes a careless encoder would produce
  return Array.from(value, (char) => {
    const code = char.codePointAt(0) ?? 0
    if (code >= 0xd800 && code <= 0xdfff) {
      return `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase()
    }
    return encodeURIComponent(char)
  }).join('')
}

const fillTemplate = (path: string, value: string): string => path.replace(/\{[^}]+\}/g, value)

function otherRoutes(document: OpenApiDocument): fc.Arbitrary<RoutePlan> {
  const declared = new Map<string, Set<string>>()
  for (const operation of document.operations) {
    const methods = declared.get(operation.path) ?? new Set()
    declared.set(operation.path, methods.add(operation.method))
  }
  const undeclaredMethod = fc
    .tuple(fc.constantFrom(...declared.keys()), fc.constantFrom(...METHODS), fc.uuid())
    .filter(([path, method]) => !declared.get(path)?.has(method))
    .map(([path, method, id]): RoutePlan => ({ kind: 'other', method, url: fillTemplate(path, id) }))
  const hidden = fc
    .tuple(fc.constantFrom<string>('GET', 'GET', 'GET', 'HEAD', 'POST'), fc.constantFrom(...HIDDEN_PATHS))
    .map(([method, url]): RoutePlan => ({ kind: 'other', method, url }))
  const unknown = fc
    .tuple(
      fc.constantFrom(...METHODS),
      fc.oneof(
        fc.constantFrom<string>(...UNKNOWN_PATHS),
        nastyString().map((value) => `/auth/${encodeSegment(value)}`),
        fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)),
      ),
    )
    .map(([method, url]): RoutePlan => ({ kind: 'other', method, url }))
  return fc.oneof(hidden, undeclaredMethod, unknown)
}

// -------------------------------------------------------------------------------------------------
// path and query

function paramPlan(parameter: Parameter, context: SchemaContext): fc.Arbitrary<ParamPlan> {
  const asText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value))
  const value = (arbitrary: fc.Arbitrary<unknown>) =>
    arbitrary.map((drawn): ParamPlan => ({ kind: 'value', value: asText(drawn) }))
  return fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((pick): ParamPlan => ({ kind: 'session', pick })) },
    { weight: 3, arbitrary: value(validArbitrary(parameter.schema, context)) },
    { weight: 2, arbitrary: value(invalidArbitrary(parameter.schema, context)) },
    { weight: 1, arbitrary: value(nastyString()) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '%zz',
          '%00',
          '%',
          '%2',
          '%E0%A4%A',
          '%C0%AF',
          '%2F',
          '..',
          '%2e%2e',
          '%ED%A0%80',
          '%FF',
        )
        .map((text): ParamPlan => ({ kind: 'raw', text })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 90, max: 600 }), fc.constantFrom('a', '%00', '😀', 'é'))
        .map(([length, unit]): ParamPlan => ({ kind: 'long', length, unit })),
    },
  )
}

const RAW_QUERIES = [
  'a=1&a=2',
  '__proto__[admin]=1',
  'constructor[prototype][admin]=1',
  '%zz',
  'token=abc',
  '=',
  '&&&',
  `x=${'a'.repeat(5000)}`,
  'x=%00',
  'tokenDelivery=body',
] as const

function queryPlan(parameters: Parameter[], context: SchemaContext): fc.Arbitrary<QueryPlan> {
  const model: Record<string, fc.Arbitrary<string>> = {}
  const required: string[] = []
  for (const parameter of parameters.filter((candidate) => candidate.in === 'query')) {
    model[parameter.name] = fc
      .oneof(validArbitrary(parameter.schema, context), invalidArbitrary(parameter.schema, context))
      .map((value) => (typeof value === 'string' ? value : JSON.stringify(value)))
    if (parameter.required) required.push(parameter.name)
  }
  return fc.record({
    declared: fc.record(model, { requiredKeys: required }),
    raw: fc.oneof(
      { weight: 8, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom<string>(...RAW_QUERIES) },
      { weight: 1, arbitrary: fc.webQueryParameters() },
    ),
  })
}

// -------------------------------------------------------------------------------------------------
// bodies

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON'] as const

const OTHER_TYPES = [
  undefined,
  '',
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=fuzz',
  'application/octet-stream',
  'application/problem+json',
  'application/vnd.api+json',
  'text/json',
  'application/json; charset=utf-16',
  'application/jsonx',
  'application/json, text/plain',
  'json',
  '*/*',
] as const

const jsonType = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    { weight: 2, arbitrary: fc.constantFrom(...JSON_TYPES) },
  )

const anyType = (): fc.Arbitrary<string | undefined> =>
  fc.oneof({ weight: 3, arbitrary: jsonType() }, { weight: 2, arbitrary: fc.constantFrom(...OTHER_TYPES) })

const MALFORMED_JSON = [
  '',
  ' ',
  '{',
  '}',
  '{"email":',
  '{"a":1}garbage',
  '[1,]',
  "{'email':'a@example.com'}",
  'NaN',
  'undefined',
  '\ufeff{}',
  '{"email":"a@example.com","email":1}',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"admin":true}}}',
  '{"a":"\\ud800"}',
  '{"a":"\\u0000"}',
  '{"a":1e999999}',
  'null',
  '"string"',
  '12',
  'true',
  '[]',
  '[{}]',
] as const

function formEncoded(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value)
  return Object.entries(value)
    .map(
      ([key, field]) =>
        `${encodeSegment(key)}=${encodeSegment(typeof field === 'string' ? field : JSON.stringify(field))}`,
    )
    .join('&')
}

function multipart(value: unknown): string {
  const fields = typeof value === 'object' && value !== null ? Object.entries(value) : [['value', value]]
  const parts = fields.map(
    ([key, field]) =>
      `--fuzz\r\nContent-Disposition: form-data; name="${String(key)}"\r\n\r\n${typeof field === 'string' ? field : JSON.stringify(field)}\r\n`,
  )
  return `${parts.join('')}--fuzz--\r\n`
}

/** Bodies for a route that takes a JSON body: mostly per its schema, the rest refused in every way. */
function bodyForSchema(schema: Record<string, unknown>, context: SchemaContext): fc.Arbitrary<BodyPlan> {
  const valid = validArbitrary(schema, context)
  const invalid = invalidArbitrary(schema, context)
  return fc.oneof(
    {
      weight: 40,
      arbitrary: fc
        .tuple(valid, jsonType())
        .map(([value, contentType]): BodyPlan => ({ kind: 'json', value, contentType, valid: true })),
    },
    {
      weight: 30,
      arbitrary: fc
        .tuple(
          fc.oneof({ weight: 5, arbitrary: invalid }, { weight: 1, arbitrary: fc.jsonValue() }),
          jsonType(),
        )
        .map(([value, contentType]): BodyPlan => ({ kind: 'json', value, contentType, valid: false })),
    },
    { weight: 8, arbitrary: malformedBody() },
    {
      weight: 8,
      arbitrary: fc.tuple(valid, fc.constantFrom(...OTHER_TYPES)).map(([value, contentType]): BodyPlan => {
        if (contentType === 'application/x-www-form-urlencoded') {
          return { kind: 'text', text: formEncoded(value), contentType }
        }
        if (contentType?.startsWith('multipart/')) {
          return { kind: 'text', text: multipart(value), contentType }
        }
        return { kind: 'text', text: JSON.stringify(value), contentType }
      }),
    },
    { weight: 4, arbitrary: oversizedBody() },
    { weight: 3, arbitrary: deepBody() },
    { weight: 3, arbitrary: anyType().map((contentType): BodyPlan => ({ kind: 'none', contentType })) },
  )
}

const malformedBody = (): fc.Arbitrary<BodyPlan> =>
  fc.oneof(
    fc
      .tuple(fc.oneof(fc.constantFrom<string>(...MALFORMED_JSON), nastyString(), fc.string()), anyType())
      .map(([text, contentType]): BodyPlan => ({ kind: 'text', text, contentType })),
    fc
      .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 64 }), anyType())
      .map(([bytes, contentType]): BodyPlan => ({ kind: 'bytes', bytes, contentType })),
  )

// the auth routes take 16 KiB; just over, and far over
const oversizedBody = (): fc.Arbitrary<BodyPlan> =>
  fc
    .tuple(fc.integer({ min: 16 * 1024 + 1, max: 96 * 1024 }), anyType())
    .map(([length, contentType]): BodyPlan => ({ kind: 'oversized', length, contentType }))

const deepBody = (): fc.Arbitrary<BodyPlan> =>
  fc
    .tuple(fc.integer({ min: 50, max: 2500 }), jsonType())
    .map(([depth, contentType]): BodyPlan => ({ kind: 'deep', depth, contentType }))

const FORM_TYPE = 'application/x-www-form-urlencoded'

/** Bodies for a route that takes a form (/oauth/*): mostly per its schema, the rest refused. */
function bodyForForm(schema: Record<string, unknown>, context: SchemaContext): fc.Arbitrary<BodyPlan> {
  const form = (arbitrary: fc.Arbitrary<unknown>) =>
    arbitrary.map((value): BodyPlan => ({ kind: 'text', text: formEncoded(value), contentType: FORM_TYPE }))
  return fc.oneof(
    { weight: 40, arbitrary: form(validArbitrary(schema, context)) },
    { weight: 20, arbitrary: form(invalidArbitrary(schema, context)) },
    {
      weight: 6,
      arbitrary: validArbitrary(schema, context).map(
        (value): BodyPlan => ({ kind: 'json', value, contentType: 'application/json', valid: false }),
      ),
    },
    { weight: 8, arbitrary: malformedBody() },
    { weight: 3, arbitrary: oversizedBody() },
    { weight: 3, arbitrary: anyType().map((contentType): BodyPlan => ({ kind: 'none', contentType })) },
  )
}

/** Bodies for a route that takes none: mostly none, sometimes anything. */
const bodyWithoutSchema = (): fc.Arbitrary<BodyPlan> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant<BodyPlan>({ kind: 'none', contentType: undefined }) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.jsonValue({ maxDepth: 2 }), jsonType())
        .map(([value, contentType]): BodyPlan => ({ kind: 'json', value, contentType, valid: false })),
    },
    { weight: 2, arbitrary: malformedBody() },
    { weight: 1, arbitrary: oversizedBody() },
  )

// -------------------------------------------------------------------------------------------------
// credentials and headers

const OTHER_SCHEMES = [
  'Bearer',
  'Bearer ',
  'Bearer  ',
  'bearer x',
  'Bearer a.b.c',
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  'Bearer null',
  'Bearer undefined',
  'Bearer ==',
  'Bearer\ttoken',
  `Bearer ${'a'.repeat(10_000)}`,
  'Basic YWRhOmNvcnJlY3QgaG9yc2U=',
  'Basic',
  'Token abc',
  'Digest username="ada"',
  'Negotiate YII=',
  'Bearer abc, Bearer def',
] as const

function authPlan(): fc.Arbitrary<AuthPlan> {
  return fc.oneof(
    { weight: 25, arbitrary: fc.constant<AuthPlan>({ kind: 'none' }) },
    {
      weight: 30,
      arbitrary: fc
        .tuple(
          fc.nat(),
          fc.oneof({ weight: 8, arbitrary: fc.constant('Bearer') }, fc.constantFrom('bearer', 'BEARER')),
        )
        .map(([pick, scheme]): AuthPlan => ({ kind: 'pool', pick, scheme })),
    },
    {
      weight: 5,
      arbitrary: fc
        .tuple(fc.nat(), fc.constantFrom('truncate', 'append', 'flip', 'upper', 'twice'))
        .map(([pick, how]): AuthPlan => ({ kind: 'mangled', pick, how })),
    },
    {
      weight: 10,
      arbitrary: fc
        .oneof(
          fc.constantFrom<string>(...OTHER_SCHEMES),
          nastyString().map((value) => `Bearer ${value}`),
          fc.string({ maxLength: 60 }).map((value) => `Bearer ${value}`),
          nastyString(),
        )
        .map((value): AuthPlan => ({ kind: 'raw', value })),
    },
    { weight: 20, arbitrary: tokenPlanArbitrary().map((token): AuthPlan => ({ kind: 'token', token })) },
    { weight: 4, arbitrary: fc.constant<AuthPlan>({ kind: 'metrics' }) },
  )
}

function cookiePlan(): fc.Arbitrary<CookiePlan> {
  const garbage = fc.oneof(
    fc.constantFrom(
      'tessera_refresh=',
      'tessera_refresh',
      'tessera_refresh=%zz',
      'tessera_refresh="quoted"',
      'tessera_refresh=a; tessera_refresh=b',
      `tessera_refresh=${'A'.repeat(5000)}`,
      'other=1',
      '=;;=',
      ';',
    ),
    nastyString().map((value) => `tessera_refresh=${value}`),
    fc.string({ maxLength: 60 }).map((value) => `tessera_refresh=${value}`),
  )
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant<CookiePlan>({ kind: 'none' }) },
    { weight: 5, arbitrary: fc.nat().map((pick): CookiePlan => ({ kind: 'pool', pick })) },
    { weight: 4, arbitrary: garbage.map((header): CookiePlan => ({ kind: 'raw', header })) },
    { weight: 1, arbitrary: fc.nat().map((pick): CookiePlan => ({ kind: 'twice', pick })) },
  )
}

function originPlan(allowed: string): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.constant(allowed) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'null',
        'https://evil.example',
        `${allowed}.evil.example`,
        allowed.toUpperCase(),
        `${allowed}/`,
        allowed.replace('http:', 'https:'),
        'file://',
        '',
      ),
    },
    { weight: 1, arbitrary: fc.oneof(nastyString(), fc.webUrl()) },
  )
}

const extraHeaders = (): fc.Arbitrary<Record<string, string>> =>
  fc.record(
    {
      'user-agent': fc.oneof(fc.constantFrom('Mozilla/5.0', 'curl/8.0'), nastyString()),
      'x-forwarded-for': fc.oneof(fc.ipV4(), fc.ipV6(), nastyString()),
      accept: fc.constantFrom('application/json', '*/*', 'text/html', 'application/problem+json', ''),
      'if-none-match': fc.constantFrom('*', '"x"', 'W/"x"'),
    },
    { requiredKeys: [] },
  )

// -------------------------------------------------------------------------------------------------
// the whole request

const fillPlan = (): fc.Arbitrary<number | undefined> =>
  fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() })

function operationPlan(operation: Operation, index: number, options: PlanOptions): fc.Arbitrary<RequestPlan> {
  const context: SchemaContext = { schemas: options.document.schemas }
  const params: Record<string, fc.Arbitrary<ParamPlan>> = {}
  for (const parameter of operation.parameters.filter((candidate) => candidate.in === 'path')) {
    params[parameter.name] = paramPlan(parameter, context)
  }
  const jsonBody = operation.requestBody?.content.find((media) => media.mediaType.endsWith('json'))
  const formBody = operation.requestBody?.content.find((media) => media.mediaType === FORM_TYPE)
  const route: RoutePlan = { kind: 'operation', index, method: operation.method, path: operation.path }
  return fc.record({
    route: fc.constant(route),
    params: fc.record(params),
    query: queryPlan(operation.parameters, context),
    body: jsonBody?.schema
      ? bodyForSchema(jsonBody.schema, context)
      : formBody?.schema
        ? bodyForForm(formBody.schema, context)
        : bodyWithoutSchema(),
    auth: authPlan(),
    cookie: cookiePlan(),
    origin: originPlan(options.allowedOrigin),
    fill: fillPlan(),
    headers: extraHeaders(),
  })
}

function otherPlan(options: PlanOptions): fc.Arbitrary<RequestPlan> {
  return fc.record({
    route: otherRoutes(options.document),
    params: fc.constant({}),
    query: fc.constant({ declared: {}, raw: undefined }),
    body: bodyWithoutSchema(),
    auth: authPlan(),
    cookie: cookiePlan(),
    origin: originPlan(options.allowedOrigin),
    fill: fc.constant(undefined),
    headers: extraHeaders(),
  })
}

/** Every operation of the document equally often, and a share of routes the document does not list. */
export function requestPlanArbitrary(options: PlanOptions): fc.Arbitrary<RequestPlan> {
  const operations = options.document.operations.map((operation, index) => ({
    weight: 1,
    arbitrary: operationPlan(operation, index, options),
  }))
  return fc.oneof(...operations, { weight: 2, arbitrary: otherPlan(options) })
}
