import { TesseraError } from '../errors.js'

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
