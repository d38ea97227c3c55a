import AjvCompiler from '@fastify/ajv-compiler'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { FastifyServerOptions } from 'fastify'

// Fastify compiles every route's request schemas (ajv) and response schemas (fast-json-stringify)
// before it listens: about a fifth of a server's start-up (ajv and fast-json-stringify in its CPU profile), for
// routes most servers never see. These are Fastify's own compilers, with each route's schema
// compiled at its first request instead. The compiled code is the same; only when it is made moves.

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
type Validate = ((data: unknown, context?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown }
type Serialize = (data: unknown) => string
/** What both factories look like, without the validator's ajv types (the wrapper is a plain function). */
type Factory<F> = (externalSchemas: never, options: never) => (route: never) => F

export function lazySchemaCompilers(): CompilersFactory {
  const buildValidator = AjvCompiler() as unknown as Factory<Validate>
  const buildSerializer = SerializerSelector() as unknown as Factory<Serialize>
  const lazy: { buildValidator: Factory<Validate>; buildSerializer: Factory<Serialize> } = {
    buildValidator(externalSchemas, options) {
      const compile = buildValidator(externalSchemas, options)
      return (route) => {
        let compiled: Validate | undefined
        const validate: Validate = (data, context) => {
          compiled ??= compile(route)
          const valid = compiled(data, context)
          // Fastify reads the errors off the function it was given
          validate.errors = compiled.errors
          return valid
        }
        // Fastify hands ajv the request as the value's parent only when the function says it is
        // ajv's (it has a schemaEnv): what ajv needs to replace a root value (a default, say)
        validate.schemaEnv = true
        return validate
      }
    },
    buildSerializer(externalSchemas, options) {
      const compile = buildSerializer(externalSchemas, options)
      return (route) => {
        let compiled: Serialize | undefined
        return (data: unknown) => {
          compiled ??= compile(route)
          return compiled(data)
        }
      }
    },
  }
  return lazy as unknown as CompilersFactory
}
