import type { FastifyInstance } from 'fastify'
import { type FieldError, TesseraError } from '../errors.js'

// deeper than any of our bodies; the body limit bounds the work either way
const MAX_DEPTH = 32

/**
 * Where a string of the request cannot be stored as text: U+0000 (PostgreSQL text refuses it) or
 * a lone surrogate (no UTF-8 form: it would be stored as U+FFFD, and two different inputs would
 * then meet in one row). The JSON parser lets both through (`"\u0000"`, `"\ud800"`).
 */
export function badTextFields(
  value: unknown,
  path: string,
  found: FieldError[] = [],
  depth = 0,
): FieldError[] {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) found.push({ field: path, message: 'must not contain U+0000' })
    else if (!value.isWellFormed()) found.push({ field: path, message: 'must be valid Unicode' })
  } else if (typeof value === 'object' && value !== null && depth < MAX_DEPTH) {
    for (const [key, item] of Object.entries(value)) {
      const field = path ? `${path}.${key}` : key
      if (!key.isWellFormed() || key.includes('\u0000')) {
        found.push({ field: path || 'body', message: 'has a property name that is not valid text' })
      } else badTextFields(item, field, found, depth + 1)
    }
  }
  return found
}

/**
 * Refuses, before any schema or handler sees it, a body, query or path parameter holding text that
 * cannot be stored: 400 VALIDATION_FAILED naming the field, and nothing changes.
 */
export function refuseUnstorableText(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const errors = [
      ...badTextFields(request.body, ''),
      ...badTextFields(request.query, ''),
      ...badTextFields(request.params, ''),
    ]
    if (errors.length > 0) throw new TesseraError('VALIDATION_FAILED', { errors })
  })
}
