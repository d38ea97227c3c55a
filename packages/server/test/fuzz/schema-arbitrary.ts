import fc from 'fast-check'
import { codePointLength, fitLength, NASTY_STRINGS, nastyString } from './nasty-strings.js'
import { isJsonObject, type JsonObject } from './openapi-document.js'

/**
 * JSON Schema to fast-check: `validArbitrary` draws values a schema accepts, `invalidArbitrary`
 * values it refuses. Covers what the server's OpenAPI document uses (objects, strings with bounds
 * and formats, numbers, booleans, enum/const, anyOf/oneOf/allOf, arrays, `$ref` to components).
 */

export interface SchemaContext {
  /** The document's `components.schemas`, where `$ref`s point. */
  schemas: JsonObject
}

// the document nests a few levels; deeper means a recursive $ref, where an empty value ends the tree
const MAX_DEPTH = 8
const REF_PREFIX = '#/components/schemas/'

const numberAt = (schema: JsonObject, key: string): number | undefined => {
  const value = schema[key]
  return typeof value === 'number' ? value : undefined
}

const schemaListAt = (schema: JsonObject, key: string): JsonObject[] => {
  const value = schema[key]
  return Array.isArray(value) ? value.filter(isJsonObject) : []
}

const propertiesOf = (schema: JsonObject): [string, JsonObject][] => {
  const value = schema.properties
  if (!isJsonObject(value)) return []
  return Object.entries(value).filter((entry): entry is [string, JsonObject] => isJsonObject(entry[1]))
}

const requiredOf = (schema: JsonObject): string[] => {
  const value = schema.required
  return Array.isArray(value) ? value.filter((key): key is string => typeof key === 'string') : []
}

/** Follows `$ref`s into `components.schemas`; other references are not in the document. */
export function resolveRef(schema: JsonObject, context: SchemaContext, seen = 0): JsonObject {
  const ref = schema.$ref
  if (typeof ref !== 'string') return schema
  if (!ref.startsWith(REF_PREFIX) || seen > MAX_DEPTH) throw new Error(`cannot resolve $ref ${ref}`)
  const name = decodeURIComponent(ref.slice(REF_PREFIX.length)).replaceAll('~1', '/').replaceAll('~0', '~')
  const target = context.schemas[name]
  if (!isJsonObject(target)) throw new Error(`$ref ${ref} names no schema in components.schemas`)
  return resolveRef(target, context, seen + 1)
}

type JsonType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null'

const JSON_TYPES: readonly JsonType[] = ['object', 'array', 'string', 'integer', 'number', 'boolean', 'null']
const isJsonType = (value: unknown): value is JsonType => JSON_TYPES.some((type) => type === value)

/** The JSON type of a value, as a schema's `type` names it. */
export function jsonTypeOf(value: unknown): JsonType {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  if (typeof value === 'string') return 'string'
  if (typeof value === 'boolean') return 'boolean'
  return 'object'
}

/** The types a schema allows, from `type`, `const`/`enum`, alternatives or the keywords it has. */
function typesOf(schema: JsonObject, context: SchemaContext, depth = 0): JsonType[] {
  const resolved = resolveRef(schema, context)
  const declared = resolved.type
  if (isJsonType(declared)) return [declared]
  if (Array.isArray(declared)) return declared.filter(isJsonType)
  if ('const' in resolved) return [jsonTypeOf(resolved.const)]
  if (Array.isArray(resolved.enum)) return [...new Set(resolved.enum.map(jsonTypeOf))]
  const alternatives = [...schemaListAt(resolved, 'anyOf'), ...schemaListAt(resolved, 'oneOf')]
  if (alternatives.length > 0 && depth < MAX_DEPTH) {
    return [...new Set(alternatives.flatMap((alternative) => typesOf(alternative, context, depth + 1)))]
  }
  if (isJsonObject(resolved.properties)) return ['object']
  return []
}

const allows = (types: JsonType[], value: unknown): boolean => {
  const type = jsonTypeOf(value)
  return types.includes(type) || (type === 'integer' && types.includes('number'))
}

/** Several `allOf` members are merged as objects: the document's only use of allOf would be that. */
function mergeAllOf(schemas: JsonObject[], context: SchemaContext): JsonObject {
  const resolved = schemas.map((schema) => resolveRef(schema, context))
  return {
    type: 'object',
    properties: Object.fromEntries(resolved.flatMap(propertiesOf)),
    required: resolved.flatMap(requiredOf),
    additionalProperties: resolved.some((schema) => schema.additionalProperties === false)
      ? false
      : undefined,
  }
}

// ---------------------------------------------------------------------------------------------
// values a schema accepts

/** Values the schema accepts, strings drawn partly from {@link NASTY_STRINGS}. */
export function validArbitrary(schema: JsonObject, context: SchemaContext, depth = 0): fc.Arbitrary<unknown> {
  const resolved = resolveRef(schema, context)
  if (depth > MAX_DEPTH) return fc.constant(null)
  if ('const' in resolved) return fc.constant(resolved.const)
  if (Array.isArray(resolved.enum) && resolved.enum.length > 0) return fc.constantFrom(...resolved.enum)
  const alternatives = [...schemaListAt(resolved, 'anyOf'), ...schemaListAt(resolved, 'oneOf')]
  if (alternatives.length > 0) {
    return fc.oneof(...alternatives.map((alternative) => validArbitrary(alternative, context, depth + 1)))
  }
  const allOf = schemaListAt(resolved, 'allOf')
  if (allOf.length > 0) return validArbitrary(mergeAllOf(allOf, context), context, depth + 1)
  const types = typesOf(resolved, context)
  if (types.length > 1) {
    return fc.oneof(...types.map((type) => validArbitrary({ ...resolved, type }, context, depth + 1)))
  }
  switch (types[0]) {
    case 'object':
      return validObject(resolved, context, depth)
    case 'array':
      return validArray(resolved, context, depth)
    case 'string':
      return validString(resolved)
    case 'integer':
      return fc.integer({
        min: lowerBound(resolved, 1) ?? -(2 ** 31),
        max: upperBound(resolved, 1) ?? 2 ** 31,
      })
    case 'number':
      return fc.double({
        min: lowerBound(resolved, Number.EPSILON) ?? -1e15,
        max: upperBound(resolved, Number.EPSILON) ?? 1e15,
        noNaN: true,
        noDefaultInfinity: true,
      })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

const lowerBound = (schema: JsonObject, step: number): number | undefined => {
  const exclusive = numberAt(schema, 'exclusiveMinimum')
  return exclusive === undefined ? numberAt(schema, 'minimum') : exclusive + step
}

const upperBound = (schema: JsonObject, step: number): number | undefined => {
  const exclusive = numberAt(schema, 'exclusiveMaximum')
  return exclusive === undefined ? numberAt(schema, 'maximum') : exclusive - step
}

function validObject(schema: JsonObject, context: SchemaContext, depth: number): fc.Arbitrary<unknown> {
  const model: Record<string, fc.Arbitrary<unknown>> = {}
  for (const [key, property] of propertiesOf(schema)) {
    model[key] = validArbitrary(property, context, depth + 1)
  }
  const required = requiredOf(schema)
  // a required key the schema does not describe may hold anything
  for (const key of required) model[key] ??= fc.jsonValue({ maxDepth: 1 })
  const record = fc.record(model, { requiredKeys: required })
  const extra = schema.additionalProperties
  if (extra === false) return record
  const extraValue = isJsonObject(extra)
    ? validArbitrary(extra, context, depth + 1)
    : fc.jsonValue({ maxDepth: 1 })
  const extraKey = fc.string({ minLength: 1, maxLength: 12 }).filter((key) => !(key in model))
  const extras = fc.oneof(
    { weight: 4, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.dictionary(extraKey, extraValue, { maxKeys: 3 }) },
  )
  return fc.tuple(record, extras).map(([known, more]) => ({ ...more, ...known }))
}

function validArray(schema: JsonObject, context: SchemaContext, depth: number): fc.Arbitrary<unknown> {
  const items = isJsonObject(schema.items) ? schema.items : {}
  const minLength = numberAt(schema, 'minItems') ?? 0
  const maxLength = Math.min(numberAt(schema, 'maxItems') ?? minLength + 4, minLength + 4)
  return fc.array(validArbitrary(items, context, depth + 1), { minLength, maxLength })
}

/** Addresses that differ from a plain one only in ways a careless comparison misses. */
const NASTY_EMAILS: readonly string[] = [
  'ａｄａ@ｅｘａｍｐｌｅ.com',
  '𝐚da@example.com',
  'ADA@EXAMPLE.COM',
  'Ada@Example.Com',
  'ada@example.com\u200f',
  '\u202eada@example.com',
  'ada+tag@example.com',
  'a\u0000b@example.com',
  'ada@exämple.com',
  'ada@xn--exmple-cua.com',
  'δοκιμή@παράδειγμα.δοκιμή',
  'ｓｅｓｓｉｏｎ@example.com',
  'e\u0301@example.com',
  '\u00e9@example.com',
  'ada@example.com.',
  '"a b"@example.com',
  "o'brien@example.com",
  '<script>@example.com',
  // 254 characters, the longest address the schema takes
  `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`,
]

function emailArbitrary(): fc.Arbitrary<string> {
  const domains = fc.constantFrom('example.com', 'EXAMPLE.com', 'ｅｘａｍｐｌｅ.com', 'example.co.uk')
  const local = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
  return fc.oneof(
    { weight: 5, arbitrary: fc.emailAddress() },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_EMAILS) },
    { weight: 2, arbitrary: fc.tuple(local, domains).map(([name, domain]) => `${name}@${domain}`) },
  )
}

const dateTimeArbitrary = (): fc.Arbitrary<string> =>
  fc
    .date({
      noInvalidDate: true,
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
    })
    .map((date) => date.toISOString())

/** Index just past the `]` closing the character class that opens at `start`. */
function endOfClass(pattern: string, start: number): number {
  let index = start + 1
  while (index < pattern.length) {
    if (pattern[index] === '\\') index += 2
    else if (pattern[index] === ']') return index + 1
    else index += 1
  }
  return pattern.length
}

/** Index just past the `)` closing the group that opens at `start`. */
function endOfGroup(pattern: string, start: number): number {
  let depth = 0
  let index = start
  while (index < pattern.length) {
    const char = pattern[index]
    if (char === '\\') index += 2
    else if (char === '[') index = endOfClass(pattern, index)
    else {
      if (char === '(') depth += 1
      if (char === ')' && --depth === 0) return index + 1
      index += 1
    }
  }
  return pattern.length
}

/** The pattern without its lookarounds, which fast-check cannot generate from. */
function withoutLookarounds(pattern: string): string {
  let result = ''
  let index = 0
  while (index < pattern.length) {
    const char = pattern[index] ?? ''
    let end = index + 1
    if (/^\(\?<?[=!]/.test(pattern.slice(index, index + 4))) {
      index = endOfGroup(pattern, index)
      continue
    }
    if (char === '\\') end = index + 2
    else if (char === '[') end = endOfClass(pattern, index)
    result += pattern.slice(index, end)
    index = end
  }
  return result
}

/** Strings of the pattern's shape, or undefined when fast-check cannot read the pattern. */
function shapedLike(pattern: string): fc.Arbitrary<string> | undefined {
  for (const source of [pattern, withoutLookarounds(pattern)]) {
    try {
      return fc.stringMatching(new RegExp(source, 'u'))
    } catch {
      // an unsupported construct: try again without lookarounds, else give up on generating from it
    }
  }
  return undefined
}

// an email address written as a pattern, not a format, still gets the look-alike addresses
const isEmailPattern = (pattern: string): boolean => pattern.includes('@')

/** Strings the pattern (JSON Schema: Unicode mode) and the length bounds accept. */
function patternArbitrary(pattern: string, fits: (value: string) => boolean): fc.Arbitrary<string> {
  const regex = new RegExp(pattern, 'u')
  const options = [shapedLike(pattern), isEmailPattern(pattern) ? emailArbitrary() : undefined].filter(
    (option) => option !== undefined,
  )
  // nothing to draw from that would pass a filter in reasonable time: strings, valid or not
  if (options.length === 0) return fc.string()
  return fc.oneof(...options).filter((value) => regex.test(value) && fits(value))
}

// characters whose count differs between code points, UTF-16 units, bytes and what a person sees
const BOUNDARY_UNITS = ['x', '😀', 'e\u0301', 'ａ', '\u0000', '\u200f', 'ß'] as const

function validString(schema: JsonObject): fc.Arbitrary<string> {
  const min = numberAt(schema, 'minLength') ?? 0
  const max = numberAt(schema, 'maxLength')
  const fits = (value: string): boolean => {
    const length = codePointLength(value)
    return length >= min && (max === undefined || length <= max)
  }
  if (schema.format === 'email') return emailArbitrary().filter(fits)
  if (schema.format === 'uuid') return fc.uuid()
  if (schema.format === 'date-time') return dateTimeArbitrary()
  if (typeof schema.pattern === 'string') return patternArbitrary(schema.pattern, fits)
  const short = Math.min(max ?? min + 32, min + 32)
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: short }).filter(fits) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: min, maxLength: short }) },
    { weight: 3, arbitrary: nastyString().map((value) => fitLength(value, min, max)) },
    // exactly at the upper bound in code points, where UTF-16 units and bytes are more
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...BOUNDARY_UNITS)
        .map((unit) => fitLength(unit.repeat(max ?? min + 300), min, max ?? min + 300)),
    },
  )
}

// ---------------------------------------------------------------------------------------------
// values a schema refuses

/** One value of each JSON type, a few of them shaped like injection attempts. */
const TYPE_SAMPLES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  2 ** 53 + 2,
  1.5,
  -1e308,
  '',
  'x',
  '1',
  'true',
  [],
  ['a'],
  [null],
  {},
  { $ne: null },
  { $gt: '' },
]

/** The values a `const`, an `enum` or alternatives made only of those allow; undefined when open. */
function listedValues(schema: JsonObject, context: SchemaContext, depth = 0): unknown[] | undefined {
  const resolved = resolveRef(schema, context)
  if ('const' in resolved) return [resolved.const]
  if (Array.isArray(resolved.enum)) return resolved.enum
  const alternatives = [...schemaListAt(resolved, 'anyOf'), ...schemaListAt(resolved, 'oneOf')]
  if (alternatives.length === 0 || depth > MAX_DEPTH) return undefined
  const lists = alternatives.map((alternative) => listedValues(alternative, context, depth + 1))
  return lists.every((list) => list !== undefined) ? lists.flat() : undefined
}

const sameJson = (left: unknown, right: unknown): boolean => JSON.stringify(left) === JSON.stringify(right)

/** Values of a JSON type the schema does not allow (for a `const`/`enum`, values not listed). */
function wrongType(schema: JsonObject, context: SchemaContext): fc.Arbitrary<unknown> {
  const types = typesOf(schema, context)
  const listed = listedValues(schema, context)
  const candidates = TYPE_SAMPLES.filter((value) =>
    listed ? !listed.some((allowed) => sameJson(allowed, value)) : !allows(types, value),
  )
  return candidates.length > 0 ? fc.constantFrom(...candidates) : fc.jsonValue({ maxDepth: 2 })
}

/** `cookie` as `Cookie`, `cookie `, `cookie\u0000`, fullwidth: a listed value, nearly. */
function nearMisses(schema: JsonObject, context: SchemaContext): fc.Arbitrary<unknown> | undefined {
  const listed = listedValues(schema, context) ?? []
  const strings = listed.filter((value): value is string => typeof value === 'string' && value.length > 0)
  const variants = strings.flatMap((value) => [
    value.toUpperCase(),
    `${value[0]?.toUpperCase()}${value.slice(1)}`,
    `${value} `,
    ` ${value}`,
    `${value}\u0000`,
    `${value}\u200b`,
    Array.from(value, (char) => String.fromCodePoint((char.codePointAt(0) ?? 0) + 0xfee0)).join(''),
  ])
  const unlisted = variants.filter((variant) => !listed.includes(variant))
  return unlisted.length > 0 ? fc.constantFrom(...unlisted) : undefined
}

const INVALID_EMAILS: readonly string[] = [
  '',
  'ada',
  '@',
  'ada@',
  '@example.com',
  'ada@@example.com',
  'ada example@example.com',
  'ada@example..com',
  'ada@.example.com',
  `${'a'.repeat(250)}@example.com`,
  `ada@${'b'.repeat(300)}.com`,
  'ada@example.com\r\nBcc: eve@example.com',
  'ada@example.com,eve@example.com',
]

const INVALID_UUIDS: readonly string[] = [
  '',
  'not-a-uuid',
  '00000000-0000-0000-0000-00000000000g',
  '{00000000-0000-4000-8000-000000000000}',
  '00000000-0000-4000-8000-000000000000x',
  '000000000000400080000000000000000',
  '../../etc/passwd',
]

/** Strings just outside the length bounds or the format. */
function badString(schema: JsonObject): fc.Arbitrary<unknown> | undefined {
  const options: fc.Arbitrary<unknown>[] = []
  const min = numberAt(schema, 'minLength')
  const max = numberAt(schema, 'maxLength')
  if (max !== undefined) {
    options.push(fc.integer({ min: max + 1, max: max + 64 }).map((length) => 'a'.repeat(length)))
    options.push(fc.constantFrom(...BOUNDARY_UNITS).map((unit) => unit.repeat(max + 1)))
  }
  if (min !== undefined && min > 0) options.push(fc.string({ maxLength: min - 1 }))
  if (schema.format === 'email') options.push(fc.constantFrom(...INVALID_EMAILS))
  if (typeof schema.pattern === 'string') {
    const regex = new RegExp(schema.pattern, 'u')
    const candidates = isEmailPattern(schema.pattern)
      ? fc.constantFrom(...INVALID_EMAILS, ...NASTY_EMAILS)
      : fc.oneof(nastyString(), fc.string())
    options.push(candidates.filter((value) => !regex.test(value)))
  }
  if (schema.format === 'uuid') options.push(fc.constantFrom(...INVALID_UUIDS))
  if (schema.format === 'date-time') {
    options.push(fc.constantFrom('2020-13-01T00:00:00Z', 'yesterday', '2020-01-01'))
  }
  return options.length > 0 ? fc.oneof(...options) : undefined
}

/** Objects with a required key gone, an undeclared key added, or one property refused. */
function badObject(schema: JsonObject, context: SchemaContext, depth: number): fc.Arbitrary<unknown>[] {
  const valid = validObject(schema, context, depth).filter(isJsonObject)
  const options: fc.Arbitrary<unknown>[] = []
  const required = requiredOf(schema)
  if (required.length > 0) {
    options.push(
      fc
        .tuple(valid, fc.constantFrom(...required))
        .map(([value, key]) => Object.fromEntries(Object.entries(value).filter(([name]) => name !== key))),
    )
  }
  const properties = propertiesOf(schema)
  if (schema.additionalProperties === false) {
    const names = new Set(properties.map(([key]) => key))
    const extraKey = fc
      .oneof(
        fc.constantFrom(
          'roles',
          'id',
          'emailVerified',
          'isAdmin',
          '__proto__',
          'constructor',
          ...NASTY_STRINGS,
        ),
        fc.string({ minLength: 1, maxLength: 16 }),
      )
      .filter((key) => !names.has(key))
    options.push(
      fc
        .tuple(valid, extraKey, fc.jsonValue({ maxDepth: 2 }))
        // defineProperty-like: `__proto__` becomes an own key that JSON.stringify writes out
        .map(([value, key, extra]) => Object.fromEntries([...Object.entries(value), [key, extra]])),
    )
  }
  for (const [key, property] of properties) {
    options.push(
      fc
        .tuple(valid, invalidArbitrary(property, context, depth + 1))
        .map(([value, bad]) => Object.fromEntries([...Object.entries(value), [key, bad]])),
    )
  }
  return options
}

/** Values the schema refuses: wrong types, bounds and formats missed, keys missing or extra. */
export function invalidArbitrary(
  schema: JsonObject,
  context: SchemaContext,
  depth = 0,
): fc.Arbitrary<unknown> {
  const resolved = resolveRef(schema, context)
  const options: fc.Arbitrary<unknown>[] = [wrongType(resolved, context)]
  if (depth > MAX_DEPTH) return options[0] ?? fc.constant(null)
  const near = nearMisses(resolved, context)
  if (near) options.push(near)
  const types = typesOf(resolved, context)
  if (types.length === 1 && types[0] === 'string') {
    const bad = badString(resolved)
    if (bad) options.push(bad)
  }
  if (types.length === 1 && types[0] === 'object') options.push(...badObject(resolved, context, depth))
  const outside = outOfRange(resolved)
  if (types.every((type) => type === 'integer' || type === 'number') && outside.length > 0) {
    options.push(fc.constantFrom(...outside))
  }
  return fc.oneof(...options)
}

/** Numbers just past `minimum`/`maximum` (or on an exclusive bound). */
function outOfRange(schema: JsonObject): number[] {
  const minimum = numberAt(schema, 'minimum')
  const maximum = numberAt(schema, 'maximum')
  return [
    ...(minimum === undefined ? [] : [minimum - 1]),
    ...(maximum === undefined ? [] : [maximum + 1]),
    ...[numberAt(schema, 'exclusiveMinimum'), numberAt(schema, 'exclusiveMaximum')].filter(
      (bound): bound is number => bound !== undefined,
    ),
  ]
}
