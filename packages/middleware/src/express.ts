import type { NextFunction, Request, RequestHandler, Response } from 'express'
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

declare global {
  namespace Express {
    interface Request {
      /** The verified access-token claims; set by `authenticate` (and `optionalAuth` when a token came). */
      auth?: AccessClaims
    }
  }
}

/** How the Express middleware reads tokens and answers failures. */
export interface ExpressAuthOptions {
  /**
   * Reads the token from the request; `undefined`, `null` or `''` means none was sent. Default:
   * the `Authorization: Bearer <token>` header (scheme case-insensitive). For a cookie:
   * `(req) => req.cookies?.access_token` (with cookie-parser); then protect state-changing routes
   * against CSRF (SameSite cookies), which a header does not need. Throwing a
   * {@link TesseraAuthError} refuses the request with its code; any other throw goes to `next(err)`.
   */
  getToken?: (req: Request) => string | undefined | null
  /** The `realm` of the `WWW-Authenticate: Bearer` challenge. Default `'tessera'`. */
  realm?: string
  /**
   * Answers an auth failure instead of the default problem+json response. It must send a response
   * or call `next`, e.g. `(err, req, res, next) => next(err)` to use your Express error handler
   * (`err.status` is 401 or 403, `err.code` the Tessera code).
   */
  onError?: (error: TesseraAuthError, req: Request, res: Response, next: NextFunction) => void
  /**
   * Whether `authenticate` and `optionalAuth` accept service tokens (client credentials: a token
   * with `client_id`, `sub` = the client id, a `scope`, no `sid`, `email` or `roles`). Default
   * `false`: such a token is refused with 403 FORBIDDEN, so a route written for users never takes
   * a service's client id for a user id. A route can override it: `authenticate({ services: true })`.
   */
  services?: boolean
  /**
   * The current time, for `authorize`'s `maxAge` (the token's `auth_time`). It is the verifier
   * options' `clock` too, so one option serves both. Default: the system clock.
   */
  clock?: Clock
}

/** Options of {@link createExpressAuth}: verifier options (or a `verifier`) plus {@link ExpressAuthOptions}. */
export type ExpressAuthConfig = ExpressAuthOptions & VerifierSource

/** The middleware of one verifier, sharing its key cache and response settings. */
export interface ExpressAuth {
  readonly verifier: Verifier
  /**
   * Requires a valid token: sets `req.auth`, else answers 401 (TOKEN_MISSING, TOKEN_EXPIRED,
   * TOKEN_INVALID, TOKEN_REVOKED), 503 SERVICE_UNAVAILABLE (revocation feed lost with
   * `onFeedLost: 'reject'`), or 403 FORBIDDEN for a service token unless `services` is true
   * (here or in the options).
   */
  authenticate(route?: RouteAuthOptions): RequestHandler
  /**
   * Lets requests without a token through with `req.auth` undefined; a token that is sent must be
   * valid. An expired or invalid token is a 401, never silently anonymous: the client learns to
   * refresh, and a forged token cannot downgrade itself into a guest without anyone noticing.
   */
  optionalAuth(route?: RouteAuthOptions): RequestHandler
  /**
   * Requires at least one of `roles` in `req.auth.roles` (place it after `authenticate`): 401
   * TOKEN_MISSING without `req.auth`, 403 FORBIDDEN without a matching role.
   */
  authorize(...roles: string[]): RequestHandler
  /**
   * Requires what `options` says (place it after `authenticate`): `roles` (403 FORBIDDEN), a
   * second factor with `mfa: true` and a sign-in at most `maxAge` seconds old (else 401
   * STEP_UP_REQUIRED with RFC 9470's `insufficient_user_authentication` challenge, so the client
   * steps up). 401 TOKEN_MISSING without `req.auth`.
   *
   * @example
   * app.post('/api/payouts', auth.authenticate(), auth.authorize({ mfa: true, maxAge: 300 }), handler)
   */
  authorize(options: AuthorizeOptions): RequestHandler
  /**
   * Requires every one of `scopes` in the token's `scope` (place it after an `authenticate` that
   * accepts services): 401 TOKEN_MISSING without `req.auth`, else 403 FORBIDDEN with
   * `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750 §3.1). A user
   * token has no scope, so it never passes.
   */
  requireScope(...scopes: string[]): RequestHandler
}

interface Settings {
  getToken: (req: Request) => string | undefined | null
  realm: string
  onError: ExpressAuthOptions['onError']
  services: boolean
  clock: Clock | undefined
}

const DEFAULT_SETTINGS: Settings = {
  getToken: (req) => bearerToken(req.headers.authorization, req.rawHeaders),
  realm: DEFAULT_REALM,
  onError: undefined,
  services: false,
  clock: undefined,
}

function toSettings(options: ExpressAuthOptions): Settings {
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

/** Answers an auth failure; anything else (a bug, an isRevoked outage) goes to Express's error handler. */
function reject(settings: Settings, error: unknown, req: Request, res: Response, next: NextFunction): void {
  if (!(error instanceof TesseraAuthError)) {
    next(error)
    return
  }
  try {
    if (settings.onError) {
      settings.onError(error, req, res, next)
      return
    }
    const problem = toProblem(error, settings.realm)
    // plain Node API: behaves the same under Express 4 and 5
    res.statusCode = problem.status
    for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value)
    res.end(problem.body)
  } catch (failure) {
    next(failure)
  }
}

/** Puts verified claims on the request and goes on, unless a service token came to a route for users. */
function accept(
  settings: Settings,
  claims: AccessClaims,
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  // a service's client id is no user id: only routes that say so take service tokens
  if (!settings.services && isServiceToken(claims)) {
    reject(settings, new TesseraAuthError('FORBIDDEN'), req, res, next)
    return
  }
  req.auth = claims
  next()
}

function verifying(verifier: Verifier, settings: Settings, optional: boolean): RequestHandler {
  const check = immediateCheck(verifier)
  return function tesseraAuthenticate(req, res, next) {
    let token: string | undefined | null
    try {
      token = settings.getToken(req)
    } catch (error) {
      reject(settings, error, req, res, next)
      return
    }
    if (token === undefined || token === null || token === '') {
      if (optional) next()
      else reject(settings, new TesseraAuthError('TOKEN_MISSING'), req, res, next)
      return
    }
    let claims: AccessClaims | Promise<AccessClaims>
    try {
      claims = check(token)
    } catch (error) {
      reject(settings, error, req, res, next)
      return
    }
    // a token the cache vouches for goes on at once, without a promise
    if (claims instanceof Promise) {
      claims.then(
        (verified) => accept(settings, verified, req, res, next),
        (error: unknown) => reject(settings, error, req, res, next),
      )
    } else accept(settings, claims, req, res, next)
  }
}

function authorizing(settings: Settings, args: readonly unknown[]): RequestHandler {
  const rule = toAuthorizeRule(args)
  const clock = rule.clock ?? settings.clock
  return function tesseraAuthorize(req, res, next) {
    const error = req.auth ? authorizationError(req.auth, rule, clock) : new TesseraAuthError('TOKEN_MISSING')
    if (error) reject(settings, error, req, res, next)
    else next()
  }
}

function requiringScope(settings: Settings, scopes: readonly unknown[]): RequestHandler {
  const required = checkScopes(scopes)
  return function tesseraRequireScope(req, res, next) {
    if (!req.auth) reject(settings, new TesseraAuthError('TOKEN_MISSING'), req, res, next)
    else if (!hasScopes(req.auth, required)) {
      reject(settings, new TesseraAuthError('FORBIDDEN', { requiredScopes: required }), req, res, next)
    } else next()
  }
}

/** The settings of one route: `services` as the route says, the rest as the middleware's. */
const forRoute = (settings: Settings, route: RouteAuthOptions | undefined): Settings =>
  route === undefined ? settings : { ...settings, services: routeServices(route, settings.services) }

/**
 * Builds the Express middleware for one Tessera server. Options are checked now (a bad one throws
 * a `TypeError`); keys are fetched on the first request.
 *
 * @example
 * const auth = createExpressAuth({ issuer: 'http://localhost:3000', audience: 'tessera' })
 * app.get('/api/me', auth.authenticate(), (req, res) => res.json({ id: req.auth?.sub }))
 * app.get('/api/admin', auth.authenticate(), auth.authorize('admin'), handler)
 * app.get('/internal/orders', auth.authenticate({ services: true }), auth.requireScope('orders:read'), handler)
 */
export function createExpressAuth(options: ExpressAuthConfig): ExpressAuth {
  const verifier = toVerifier(options)
  const settings = toSettings(options)
  return {
    verifier,
    authenticate: (route) => verifying(verifier, forRoute(settings, route), false),
    optionalAuth: (route) => verifying(verifier, forRoute(settings, route), true),
    authorize: (...args: unknown[]) => authorizing(settings, args),
    requireScope: (...scopes) => requiringScope(settings, scopes),
  }
}

const sourceAndSettings = (options: ExpressAuthConfig | Verifier): [Verifier, Settings] =>
  isVerifier(options) ? [options, DEFAULT_SETTINGS] : [toVerifier(options), toSettings(options)]

/**
 * Requires a valid access token: sets `req.auth`, else answers 401 problem+json. Takes options
 * (building a verifier, so call it once and reuse the handler) or a verifier to share.
 *
 * @example
 * app.use('/api', authenticate({ issuer: 'https://auth.example.com', audience: 'tessera' }))
 */
export function authenticate(options: ExpressAuthConfig | Verifier): RequestHandler {
  const [verifier, settings] = sourceAndSettings(options)
  return verifying(verifier, settings, false)
}

/**
 * Like {@link authenticate}, but a request without a token passes with `req.auth` undefined. A
 * token that is sent must be valid: an expired or invalid one is a 401, not a guest.
 */
export function optionalAuth(options: ExpressAuthConfig | Verifier): RequestHandler {
  const [verifier, settings] = sourceAndSettings(options)
  return verifying(verifier, settings, true)
}

/**
 * Requires one of `roles` (any one suffices) in `req.auth.roles`, or what {@link AuthorizeOptions}
 * say (`roles`, `mfa`, `maxAge`); place it after `authenticate`. 401 TOKEN_MISSING without
 * `req.auth`, 403 FORBIDDEN without a role, 401 STEP_UP_REQUIRED without the second factor or
 * recent sign-in. Answers with the default realm and the system clock (or `options.clock`); use
 * `createExpressAuth(...).authorize` for a custom `realm` or `onError`.
 *
 * @example
 * app.delete('/api/account', authenticate(verifier), authorize({ mfa: true, maxAge: 300 }), handler)
 */
export function authorize(...roles: string[]): RequestHandler
export function authorize(options: AuthorizeOptions): RequestHandler
export function authorize(...args: unknown[]): RequestHandler {
  return authorizing(DEFAULT_SETTINGS, args)
}

/**
 * Requires every one of `scopes` in `req.auth.scope`; place it after an `authenticate` that
 * accepts services. 401 TOKEN_MISSING without `req.auth`, else 403 FORBIDDEN with an
 * `insufficient_scope` challenge. Answers with the default realm.
 */
export function requireScope(...scopes: string[]): RequestHandler {
  return requiringScope(DEFAULT_SETTINGS, scopes)
}
