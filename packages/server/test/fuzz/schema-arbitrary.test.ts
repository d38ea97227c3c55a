import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { JsonObject } from './openapi-document.js'
import { invalidArbitrary, type SchemaContext, validArbitrary } from './schema-arbitrary.js'

// the fuzzer trusts the converter to tell accepted input from refused input: checked here against Ajv
const context: SchemaContext = {
  schemas: {
    Thing: {
      type: 'object',
      required: ['count'],
      additionalProperties: false,
      properties: { count: { type: 'integer', minimum: 0, maximum: 10 } },
    },
  },
}

const SCHEMAS: Record<string, JsonObject> = {
  'an object with required, optional and no additional properties': {
    type: 'object',
    additionalProperties: false,
    required: ['password', 'tokenDelivery'],
    properties: {
      password: { type: 'string', minLength: 8, maxLength: 256 },
      name: { type: 'string', maxLength: 200 },
      tokenDelivery: {
        anyOf: [
          { type: 'string', enum: ['cookie'] },
          { type: 'string', enum: ['body'] },
        ],
      },
      id: { type: 'string', format: 'uuid' },
      at: { type: 'string', format: 'date-time' },
      kind: { const: 'x' },
      ratio: { type: 'number', exclusiveMinimum: 0 },
      flag: { type: 'boolean' },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
      thing: { $ref: '#/components/schemas/Thing' },
    },
  },
  'a string with a lookahead pattern (an email rule)': {
    type: 'string',
    maxLength: 254,
    pattern: String.raw`^\s*(?=[^@]{1,64}@)[^\s@"(),:;<>[\\\].\p{Cc}]+@(?:[\p{L}\p{N}]+\.)+\p{L}{2,}\s*$`,
  },
  'a nullable string': { anyOf: [{ type: 'string' }, { type: 'null' }] },
  'one of two objects': {
    oneOf: [
      { type: 'object', required: ['a'], additionalProperties: false, properties: { a: { type: 'string' } } },
      {
        type: 'object',
        required: ['b'],
        additionalProperties: false,
        properties: { b: { type: 'integer' } },
      },
    ],
  },
  'a $ref': { $ref: '#/components/schemas/Thing' },
}

function validatorOf(schema: JsonObject) {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats.default(ajv)
  return ajv.compile({ components: { schemas: context.schemas }, allOf: [schema] })
}

describe('JSON Schema to fast-check', () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`draws only values ${name} accepts`, () => {
      const validate = validatorOf(schema)
      fc.assert(
        fc.property(validArbitrary(schema, context), (value) => {
          expect(validate(value), JSON.stringify(validate.errors)).toBe(true)
        }),
        { numRuns: 300 },
      )
    })

    it(`draws only values ${name} refuses`, () => {
      const validate = validatorOf(schema)
      fc.assert(
        fc.property(invalidArbitrary(schema, context), (value) => {
          expect(validate(value)).toBe(false)
        }),
        { numRuns: 300 },
      )
    })
  }
})
