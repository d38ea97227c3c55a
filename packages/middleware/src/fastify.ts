import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { AccessClaims } from './claims.js'
import { TesseraAuthError } from './errors.js'
import { type AuthorizeOptions, type Clock, checkClock, toAuthorizeRule } from './lib/authorize-options.js'
import { bearerToken } from './lib/bearer.js'
import { immediateCheck } from './lib/immediate-check.js'
import { checkRealm, DEFAULT_REALM, toProblem } from './lib/problem.js'
import { type RouteAuthOptions, routeServices } from './lib/route-options.js'
import { checkScopes, hasScopes, isServiceToken } from './lib/scopes.js'
import { authorizationError } from './lib/step-up.js'
import { isVerifier, toVerifier, type VerifierSource } from './lib/verifier-source.js'
import type { Verifier } from './verifier.js'

export type { AccessClaims } from './claims.js'
export { type StepUpChallenge, TesseraAuthError } from './errors.js'
export type { AuthorizeOptions, Clock } from './lib/authorize-options.js'
export type { RouteAuthOptions } from './lib/route-options.js'
export { createVerifier, type Verifier } from './verifier.js'
export type { VerifierOptions } from './verifier-options.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access-token claims; set by `authenticate` (and `optionalAuth` when a token came). */
    auth?: AccessClaims
  }
  interface FastifyInstance {
    /** Decorated by the {@link tesseraAuth} plugin. */
    tessera: FastifyAuth
  }
}

/**
 * A hook for `onRequest` (best: before the body is read) or `preHandler`. Fastify calls it with
 * `done`: a request that passes at once (a token the verifier's cache vouches for, a role that
 * matches) goes on through `done`, without a promise; anything else settles the returned promise.
 * Called without `done`, it always answers a promise.
 */
export interface AuthHook {
  (request: FastifyRequest, reply: FastifyReply): Promise<void>
  (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): Promise<void> | undefined
}

/** How the Fastify hooks read tokens and answer failures. */
export interface FastifyAuthOptions {
  /**
   * Reads the token from the request; `undefined`, `null` or `''` means none was sent. Default:
   * the `Authorization: Bearer <token>` header (scheme case-insensitive). For a cookie (with
   * @fastify/cookie): `(request) => request.cookies.access_token`; then protect state-changing
   * routes against CSRF. Throwing a {@link TesseraAuthError} refuses the request with its code.
   */
  getToken?: (request: FastifyRequest) => string | undefined | null
  /** The `realm` of the `WWW-Authenticate: Bearer` challenge. Default `'tessera'`. */
  realm?: string
  /**
   * Answers an auth failure instead of the default problem+json response. If it does not send a
   * reply, the error is thrown to Fastify's error handler (`error.status` is 401 or 403), so a
   * refused request never reaches the route.
   */
  onError?: (error: TesseraAuthError, request: FastifyRequest, reply: FastifyReply) => unknown
  /**
   * Whether `authenticate` and `optionalAuth` accept service tokens (client credentials: a token
   * with `client_id`, `sub` = the client id, a `scope`, no `sid`, `email` or `roles`). Default
   * `false`: such a token is refused with 403 FORBIDDEN, so a route written for users never takes
   * a service's client id for a user id. Per route: `authenticateWith({ services: true })`.
   */
  services?: boolean
  /**
   * The current time, for `authorize`'s `maxAge` (the token's `auth_time`). It is the verifier
   * options' `clock` too, so one option serves both. Default: the system clock.
   */
  clock?: Clock
}

/** Options of {@link tesseraAuth} and {@link createFastifyAuth}. */
export type FastifyAuthConfig = FastifyAuthOptions & VerifierSource

/** The hooks of one verifier, as `fastify.tessera` holds them. */
export interface FastifyAuth {
  readonly verifier: Verifier
  /**
   * Requires a valid token: sets `request.auth`, else answers 401 (TOKEN_MISSING, TOKEN_EXPIRED,
   * TOKEN_INVALID, TOKEN_REVOKED), 503 SERVICE_UNAVAILABLE (revocation feed lost with
   * `onFeedLost: 'reject'`), or 403 FORBIDDEN for a service token unless `services` is set.
   */
  readonly authenticate: AuthHook
  /**
   * Lets requests without a token through with `request.auth` undefined; a token that is sent must
   * be valid. An expired or invalid token is a 401, never silently anonymous.
   */
  readonly optionalAuth: AuthHook
  /**
   * A hook requiring at least one of `roles` in `request.auth.roles`; run it after `authenticate`
   * (later in the same hook array, or in `preHandler`). 401 TOKEN_MISSING without `request.auth`,
   * 403 FORBIDDEN without a matching role.
   */
  authorize(...roles: string[]): AuthHook
  /**
   * A hook requiring what `options` says; run it after `authenticate`: `roles` (403 FORBIDDEN), a
   * second factor with `mfa: true` and a sign-in at most `maxAge` seconds old (else 401
   * STEP_UP_REQUIRED with RFC 9470's `insufficient_user_authentication` challenge, so the client
   * steps up). 401 TOKEN_MISSING without `request.auth`.
   *
   * @example
   * app.post('/api/payouts', {
   *   onRequest: [app.tessera.authenticate, app.tessera.authorize({ mfa: true, maxAge: 300 })],
   * }, handler)
   */
  authorize(options: AuthorizeOptions): AuthHook
  /**
   * `authenticate` with route options, e.g. `authenticateWith({ services: true })` for a route
   * that service tokens may call. Build it once per route (or share it), not per request.
   */
  authenticateWith(route: RouteAuthOptions): AuthHook
  /** `optionalAuth` with route options, as {@link FastifyAuth.authenticateWith}. */
  optionalAuthWith(route: RouteAuthOptions): AuthHook
  /**
   * A hook requiring every one of `scopes` in the token's `scope`; run it after an authentication
   * that accepts services. 401 TOKEN_MISSING without `request.auth`, else 403 FORBIDDEN with
   * `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750 §3.1).
   */
  requireScope(...scopes: string[]): AuthHook
}

interface Settings {
  getToken: (request: FastifyRequest) => string | undefined | null
  realm: string
  onError: FastifyAuthOptions['onError']
  services: boolean
  clock: Clock | undefined
}

const DEFAULT_SETTINGS: Settings = {
  getToken: (request) => bearerToken(request.headers.authorization, request.raw.rawHeaders),
  realm: DEFAULT_REALM,
  onError: undefined,
  services: false,
  clock: undefined,
}

function toSettings(options: FastifyAuthOptions): Settings {
  if (options.getToken !== undefined && typeof options.getToken !== 'function') {
    throw new TypeError('@tessera/middleware: getToken must be a function')
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError('@tessera/middleware: onError must be a function')
  }
  return {
    getToken: options.getToken ?? DEFAULT_SETTINGS.getToken,
    realm: checkRealm(options.realm),
    onError: options.onError,
    services: routeServices(options, DEFAULT_SETTINGS.services),
    clock: checkClock(options.clock),
  }
}

/** Answers an auth failure; anything else is thrown to Fastify's error handler. */
async function reject(settings: Settings, error: unknown, request: FastifyRequest, reply: FastifyReply) {
  if (!(error instanceof TesseraAuthError)) throw error
  if (settings.onError) {
    const result = settings.onError(error, request, reply)
    // a returned reply is a thenable that settles only once sent: awaiting it could hang
    if (result instanceof Promise) await result
    // fail closed: an onError that sends nothing must not let the request through
    if (!reply.sent) throw error
    return
  }
  const problem = toProblem(error, settings.realm)
  // sent, not awaited: Fastify skips the remaining hooks and the handler once the reply is sent
  reply.code(problem.status).headers(problem.headers).send(problem.body)
}

/** Lets the request on: through Fastify's `done` when it gave one, else by a settled promise. */
function pass(done: HookHandlerDoneFunction | undefined): Promise<void> | undefined {
  if (done === undefined) return Promise.resolve()
  done()
  return undefined
}

function verifying(verifier: Verifier, settings: Settings, optional: boolean): AuthHook {
  const check = immediateCheck(verifier)
  const accept = (request: FastifyRequest, claims: AccessClaims): void => {
    // a service's client id is no user id: only routes that say so take service tokens
    if (!settings.services && isServiceToken(claims)) throw new TesseraAuthError('FORBIDDEN')
    request.auth = claims
  }
  const settle = async (pending: Promise<AccessClaims>, request: FastifyRequest, reply: FastifyReply) => {
    try {
      accept(request, await pending)
    } catch (error) {
      await reject(settings, error, request, reply)
    }
  }
  return function tesseraAuthenticate(
    request: FastifyRequest,
    reply: FastifyReply,
    done?: HookHandlerDoneFunction,
  ): Promise<void> | undefined {
    try {
      const token = settings.getToken(request)
      if (token === undefined || token === null || token === '') {
        if (!optional) throw new TesseraAuthError('TOKEN_MISSING')
      } else {
        const claims = check(token)
        if (claims instanceof Promise) return settle(claims, request, reply)
        accept(request, claims)
      }
    } catch (error) {
      return reject(settings, error, request, reply)
    }
    // outside the try: what Fastify runs next is not this hook's failure to answer
    return pass(done)
  } as AuthHook
}

function authorizing(settings: Settings, args: readonly unknown[]): AuthHook {
  const rule = toAuthorizeRule(args)
  const clock = rule.clock ?? settings.clock
  return function tesseraAuthorize(
    request: FastifyRequest,
    reply: FastifyReply,
    done?: HookHandlerDoneFunction,
  ): Promise<void> | undefined {
    let error: TesseraAuthError | undefined
    try {
      error = request.auth
        ? authorizationError(request.auth, rule, clock)
        : new TesseraAuthError('TOKEN_MISSING')
    } catch (failure) {
      // a throwing clock fails the hook as it did when the hook was an async function
      return Promise.reject(failure)
    }
    if (error) return reject(settings, error, request, reply)
    return pass(done)
  } as AuthHook
}

function requiringScope(settings: Settings, scopes: readonly unknown[]): AuthHook {
  const required = checkScopes(scopes)
  return function tesseraRequireScope(
    request: FastifyRequest,
    reply: FastifyReply,
    done?: HookHandlerDoneFunction,
  ): Promise<void> | undefined {
    if (!request.auth) return reject(settings, new TesseraAuthError('TOKEN_MISSING'), request, reply)
    if (!hasScopes(request.auth, required)) {
      return reject(settings, new TesseraAuthError('FORBIDDEN', { requiredScopes: required }), request, reply)
    }
    return pass(done)
  } as AuthHook
}

/** The settings of one route: `services` as the route says, the rest as the hooks'. */
const forRoute = (settings: Settings, route: RouteAuthOptions): Settings => ({
  ...settings,
  services: routeServices(route, settings.services),
})

/**
 * Builds the hooks for one Tessera server without decorating anything (the {@link tesseraAuth}
 * plugin does that). Options are checked now; keys are fetched on the first request.
 */
export function createFastifyAuth(options: FastifyAuthConfig): FastifyAuth {
  const verifier = toVerifier(options)
  const settings = toSettings(options)
  return {
    verifier,
    authenticate: verifying(verifier, settings, false),
    optionalAuth: verifying(verifier, settings, true),
    authorize: (...args: unknown[]) => authorizing(settings, args),
    authenticateWith: (route) => verifying(verifier, forRoute(settings, route), false),
    optionalAuthWith: (route) => verifying(verifier, forRoute(settings, route), true),
    requireScope: (...scopes) => requiringScope(settings, scopes),
  }
}

/**
 * The Fastify plugin: decorates `request.auth` and `fastify.tessera` ({@link FastifyAuth}). It is
 * not encapsulated (like a fastify-plugin plugin), so the decorations are visible where it is
 * registered and below. A bad option fails `register`. A verifier the plugin builds (not one
 * passed as `verifier`) is closed with the app, which ends its revocation feed.
 *
 * @example
 * await app.register(tesseraAuth, { issuer: 'http://localhost:3000', audience: 'tessera' })
 * app.get('/api/admin', { onRequest: [app.tessera.authenticate, app.tessera.authorize('admin')] }, handler)
 * app.get('/internal/orders', {
 *   onRequest: [app.tessera.authenticateWith({ services: true }), app.tessera.requireScope('orders:read')],
 * }, handler)
 */
export const tesseraAuth: FastifyPluginAsync<FastifyAuthConfig> = async (fastify, options) => {
  const auth = createFastifyAuth(options)
  fastify.decorateRequest('auth', undefined)
  fastify.decorate('tessera', auth)
  // a verifier built here is ours to stop (its revocation feed); a shared one is its owner's
  if (!('verifier' in options)) fastify.addHook('onClose', () => auth.verifier.close())
}
// what fastify-plugin sets: share the decorations with the parent context, and name the plugin
Object.defineProperty(tesseraAuth, Symbol.for('skip-override'), { value: true })
Object.defineProperty(tesseraAuth, Symbol.for('fastify.display-name'), { value: '@tessera/middleware' })

const sourceAndSettings = (options: FastifyAuthConfig | Verifier): [Verifier, Settings] =>
  isVerifier(options) ? [options, DEFAULT_SETTINGS] : [toVerifier(options), toSettings(options)]

/** A hook requiring a valid access token; takes options (build it once) or a verifier to share. */
export function authenticate(options: FastifyAuthConfig | Verifier): AuthHook {
  const [verifier, settings] = sourceAndSettings(options)
  return verifying(verifier, settings, false)
}

/** Like {@link authenticate}, but no token means `request.auth` undefined; a bad token is still a 401. */
export function optionalAuth(options: FastifyAuthConfig | Verifier): AuthHook {
  const [verifier, settings] = sourceAndSettings(options)
  return verifying(verifier, settings, true)
}

/**
 * A hook requiring one of `roles` (any one suffices), or what {@link AuthorizeOptions} say
 * (`roles`, `mfa`, `maxAge`: 401 STEP_UP_REQUIRED when the second factor or a recent sign-in is
 * missing); run it after `authenticate`. Default realm; the system clock unless `options.clock`.
 */
export function authorize(...roles: string[]): AuthHook
export function authorize(options: AuthorizeOptions): AuthHook
export function authorize(...args: unknown[]): AuthHook {
  return authorizing(DEFAULT_SETTINGS, args)
}

/** A hook requiring every one of `scopes` in `request.auth.scope`; run it after authenticating. Default realm. */
export function requireScope(...scopes: string[]): AuthHook {
  return requiringScope(DEFAULT_SETTINGS, scopes)
}
