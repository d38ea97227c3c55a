import type { FastifyInstance } from 'fastify'
import { type FieldError, TesseraError } from '../errors.js'
import { unstorableText } from '../text.js'

// deeper than any of our bodies; the body limit bounds the work either way
const MAX_DEPTH = 32

/** Where a string of the request cannot be stored as text (see {@link unstorableText}). */
export function badTextFields(
  value: unknown,
  path: string,
  found: FieldError[] = [],
  depth = 0,
): FieldError[] {
  if (typeof value === 'string') {
    const message = unstorableText(value)
    if (message) found.push({ field: path, message })
  } else if (typeof value === 'object' && value !== null && depth < MAX_DEPTH) {
    for (const [key, item] of Object.entries(value)) {
      const field = path ? `${path}.${key}` : key
      if (unstorableText(key)) {
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
