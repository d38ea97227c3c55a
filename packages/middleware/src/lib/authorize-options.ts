import { checkRoles } from './roles.js'

/** The current time, as the verifier's `clock` option has it. */
export interface Clock {
  now(): Date
}

/**
 * What a route requires of an authenticated token, on top of its being valid:
 * `authorize({ roles: ['admin'], mfa: true, maxAge: 300 })`. Every field given must hold.
 */
export interface AuthorizeOptions {
  /** At least one of these roles in the token's `roles` (any one suffices), else 403 FORBIDDEN. */
  roles?: readonly string[]
  /**
   * Require a second factor: the token's `acr` is `urn:tessera:mfa` or its `amr` holds `mfa`.
   * Else 401 STEP_UP_REQUIRED with `acr_values="urn:tessera:mfa"` (RFC 9470). Default `false`.
   */
  mfa?: boolean
  /**
   * Require a sign-in (or step-up) at most this many seconds ago: the token's `auth_time` is
   * within `maxAge` seconds of the clock. Else 401 STEP_UP_REQUIRED with `max_age` (RFC 9470).
   * A positive whole number of seconds; default none.
   */
  maxAge?: number
  /**
   * The current time for `maxAge`. Default: the middleware's `clock` option (shared with the
   * verifier when it builds one), else the system clock.
   */
  clock?: Clock
}

/** An `authorize` call's requirements, checked once at setup. */
export interface AuthorizeRule {
  readonly roles: readonly string[] | undefined
  readonly mfa: boolean
  readonly maxAge: number | undefined
  readonly clock: Clock | undefined
}

const OPTION_NAMES: readonly string[] = ['roles', 'mfa', 'maxAge', 'clock']

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const fail = (message: string): never => {
  throw new TypeError(`@tessera/middleware: ${message}`)
}

/** Checks a clock option once at setup. */
export function checkClock(clock: unknown): Clock | undefined {
  if (clock === undefined) return undefined
  if (!isObject(clock) || typeof clock.now !== 'function') fail('clock must be an object with now(): Date')
  return clock as unknown as Clock
}

/**
 * The rule of `authorize(...args)`: role names (`authorize('admin', 'moderator')`) or one options
 * object. A bad or empty requirement throws a `TypeError` now, not on the first request.
 */
export function toAuthorizeRule(args: readonly unknown[]): AuthorizeRule {
  const [first] = args
  if (args.length !== 1 || !isObject(first)) {
    return Object.freeze({ roles: checkRoles(args), mfa: false, maxAge: undefined, clock: undefined })
  }
  for (const name of Object.keys(first)) {
    // a misspelt `maxage` would otherwise leave a sensitive route without its requirement
    if (!OPTION_NAMES.includes(name)) fail(`authorize has no option "${name}" (roles, mfa, maxAge, clock)`)
  }
  const { roles, mfa, maxAge, clock } = first
  if (roles !== undefined && !Array.isArray(roles)) fail('authorize roles must be an array of role names')
  if (mfa !== undefined && typeof mfa !== 'boolean') fail('authorize mfa must be true or false')
  if (maxAge !== undefined && !(Number.isSafeInteger(maxAge) && (maxAge as number) > 0)) {
    fail('authorize maxAge must be a positive whole number of seconds, e.g. 300')
  }
  if (roles === undefined && mfa !== true && maxAge === undefined) {
    fail('authorize needs roles, mfa: true or maxAge, e.g. authorize({ mfa: true, maxAge: 300 })')
  }
  return Object.freeze({
    roles: roles === undefined ? undefined : checkRoles(roles as unknown[]),
    mfa: mfa === true,
    maxAge: maxAge as number | undefined,
    clock: checkClock(clock),
  })
}
