import { TesseraError } from '../errors.js'
import { unstorableText } from '../text.js'

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The first string in `value` (keys included) PostgreSQL cannot store, with why. */
export function unstorableIn(value: unknown): string | undefined {
  if (typeof value === 'string') return unstorableText(value)
  if (Array.isArray(value)) {
    for (const item of value) {
      const bad = unstorableIn(item)
      if (bad) return bad
    }
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const bad = unstorableText(key) ?? unstorableIn(item)
      if (bad) return bad
    }
  }
  return undefined
}

/** The most an app-metadata object may weigh, serialised as JSON (API.md: 2 KiB). */
export const APP_METADATA_MAX_BYTES = 2048

/**
 * Checks an administrator's app metadata: a JSON object of at most 2 KiB once serialised, since it
 * rides in every access token of the user. VALIDATION_FAILED otherwise.
 */
export function checkAppMetadata(value: Record<string, unknown>): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'appMetadata', message: 'must be a JSON object' }],
    })
  }
  // jsonb refuses what text does (U+0000, lone surrogates): a 400 here, not a 500 from the database
  const bad = unstorableIn(value)
  if (bad)
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'appMetadata', message: `a string ${bad}` }],
    })
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8')
  if (bytes > APP_METADATA_MAX_BYTES) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [
        {
          field: 'appMetadata',
          message: `must be at most ${APP_METADATA_MAX_BYTES} bytes as JSON (this is ${bytes})`,
        },
      ],
    })
  }
  return value
}
