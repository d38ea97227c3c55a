import { createVerifier, type Verifier } from '../verifier.js'
import type { VerifierOptions } from '../verifier-options.js'

/** How a middleware gets its verifier: options to build one, or one built already (shared caches). */
export type VerifierSource = VerifierOptions | { verifier: Verifier }

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null

/** Whether `value` is a {@link Verifier} rather than options. */
export const isVerifier = (value: unknown): value is Verifier =>
  isObject(value) && typeof value.verify === 'function' && !('issuer' in value)

/** The verifier named by `source`, building it (and so checking its options) when needed. */
export function toVerifier(source: VerifierSource | Verifier): Verifier {
  if (isVerifier(source)) return source
  if (!isObject(source))
    throw new TypeError('@tessera/middleware: options are required: { issuer, audience, ... }')
  if ('verifier' in source) {
    if (!isVerifier(source.verifier))
      throw new TypeError('@tessera/middleware: verifier must come from createVerifier')
    if ('issuer' in source)
      throw new TypeError('@tessera/middleware: give a verifier or verifier options, not both')
    return source.verifier
  }
  return createVerifier(source)
}
