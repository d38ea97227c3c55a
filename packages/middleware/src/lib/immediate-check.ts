import type { AccessClaims } from '../claims.js'
import type { Verifier } from '../verifier.js'

/**
 * A verifier's check that answers at once when it can: the claims themselves for a token its cache
 * vouches for (no `isRevoked` to ask), a promise for anything else, and a synchronous throw for a
 * failure found at once. Same checks and errors as `verify`, which wraps it in a promise.
 */
export type ImmediateCheck = (token: string) => AccessClaims | Promise<AccessClaims>

// the checks of verifiers built by createVerifier, kept out of the public Verifier interface
const checks = new WeakMap<Verifier, ImmediateCheck>()

/** Records `check` as the immediate check of `verifier`; answers the verifier. */
export function withImmediateCheck<V extends Verifier>(verifier: V, check: ImmediateCheck): V {
  checks.set(verifier, check)
  return verifier
}

/**
 * The immediate check of `verifier`: its own when createVerifier built it, else its `verify`
 * (a verifier of the caller's making still works, always through a native promise, so a caller
 * can tell claims from a pending answer with `instanceof Promise`).
 */
export function immediateCheck(verifier: Verifier): ImmediateCheck {
  return checks.get(verifier) ?? (async (token) => verifier.verify(token))
}
