import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../../flows/deps.js'
import { login } from '../../flows/login.js'
import { logout } from '../../flows/logout.js'
import { verifyMfa } from '../../flows/mfa/mfa-sign-in.js'
import { refresh } from '../../flows/refresh.js'
import { register } from '../../flows/register.js'
import { clientContext } from '../client-context.js'
import { byIp, rateLimited } from '../rate-limit.js'
import { refreshCookie } from '../refresh-cookie.js'
import {
  AuthenticationResponse,
  ChallengeId,
  Email,
  MfaEnrollmentRequiredResponse,
  MfaRequiredResponse,
  passwordSchema,
  RecoveryCode,
  responses,
  TokenDelivery,
  TokenResponse,
  TotpCode,
} from '../schemas.js'
import { tokenReplies } from '../token-reply.js'

/** Register, login, refresh and logout: the routes that hand out or spend refresh tokens. */
export const authTokenRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const cookie = refreshCookie(deps.config)
    const allowedOrigins = new Set(deps.config.allowedOrigins)
    const password = passwordSchema(deps.config)
    const rules = deps.config.limits

    const replies = tokenReplies(deps)
    const sendTokens = replies.tokens

    // The cookie endpoints must not be usable from another site: a foreign Origin is refused, and
    // only application/json is accepted, which a cross-site HTML form cannot send.
    async function guardCookieEndpoint(request: FastifyRequest) {
      const mediaType = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
      if (mediaType !== 'application/json') throw new TesseraError('UNSUPPORTED_MEDIA_TYPE')
      const origin = request.headers.origin
      if (origin !== undefined && !allowedOrigins.has(origin)) {
        throw new TesseraError('FORBIDDEN', { detail: 'Cross-site requests are not allowed here.' })
      }
    }

    app.post(
      '/auth/register',
      {
        schema: {
          tags: ['auth'],
          summary: 'Create an account and sign in',
          description:
            'Mails a verification link. With TESSERA_REQUIRE_EMAIL_VERIFICATION=true the answer is 202 ' +
            '`{ "status": "verification_pending" }` without tokens, for a new and a taken email alike ' +
            '(the owner of a taken one gets a notice mail); otherwise a taken email is 409 EMAIL_TAKEN.',
          body: Type.Object(
            {
              email: Email,
              password,
              name: Type.Optional(Type.String({ maxLength: 200 })),
              tokenDelivery: Type.Optional(TokenDelivery),
            },
            { additionalProperties: false },
          ),
          response: responses({
            201: TokenResponse,
            202: Type.Object({ status: Type.Literal('verification_pending') }),
          }),
        },
        ...rateLimited(deps.limits, [{ name: 'register:ip', rule: rules.register, key: byIp }]),
      },
      async (request, reply) => {
        const result = await register(deps, request.body, clientContext(request))
        if (result.kind === 'verification-pending') {
          return reply
            .code(202)
            .header('cache-control', 'no-store')
            .send({ status: 'verification_pending' as const })
        }
        return sendTokens(reply, result.tokens, request.body.tokenDelivery ?? 'cookie', 201)
      },
    )

    app.post(
      '/auth/login',
      {
        schema: {
          tags: ['auth'],
          summary: 'Sign in with email and password; always opens a new session',
          description:
            'For an account with a confirmed second factor the answer is 200 ' +
            '`{ "status": "mfa_required", "mfaToken", "methods" }` and no tokens: finish at POST /auth/mfa/verify. ' +
            'For a user holding a role of TESSERA_MFA_REQUIRED_ROLES without a second factor it is 200 ' +
            '`{ "status": "mfa_enrollment_required", "enrollmentToken" }`: enrol with it as the Bearer token ' +
            'of POST /auth/mfa/totp/setup and /confirm, which then answers the session.',
          body: Type.Object(
            {
              email: Email,
              // no length bounds: a password that fits no policy is simply wrong, and a policy
              // changed later must not lock out existing accounts; the body limit caps size
              password: Type.String({ minLength: 1, maxLength: 4096 }),
              tokenDelivery: Type.Optional(TokenDelivery),
            },
            { additionalProperties: false },
          ),
          response: responses({
            200: Type.Union([TokenResponse, MfaRequiredResponse, MfaEnrollmentRequiredResponse]),
          }),
        },
        ...rateLimited(deps.limits, [
          { name: 'login:ip', rule: rules.login, key: byIp },
          { name: 'login-failed:ip', rule: rules.loginFailed, key: byIp, onlyStatus: 401 },
        ]),
      },
      async (request, reply) => {
        const outcome = await login(deps, request.body, clientContext(request))
        if (outcome.kind === 'mfa-required') return replies.mfaRequired(reply, outcome)
        if (outcome.kind === 'enrolment-required') return replies.enrolmentRequired(reply, outcome)
        return sendTokens(reply, outcome.tokens, request.body.tokenDelivery ?? 'cookie', 200)
      },
    )

    app.post(
      '/auth/mfa/verify',
      {
        schema: {
          tags: ['auth'],
          summary: 'Finish a sign-in with its second factor (a TOTP code, a recovery code or a passkey)',
          description:
            'Takes the `mfaToken` of a login (or magic link) answered `mfa_required` and exactly one of `code`, ' +
            '`recoveryCode` and `passkey` (with the `challengeId` of POST /auth/mfa/passkey/options). ' +
            'A wrong code is 401 MFA_CODE_INVALID, a passkey that does not verify 401 PASSKEY_INVALID; ' +
            'both count toward the account lockout, and after 5 the mfaToken is dead (401 MFA_TOKEN_INVALID), ' +
            'as it is once expired (5 minutes) or spent. A used, expired or foreign challenge is 400 CHALLENGE_INVALID.',
          body: Type.Object(
            {
              mfaToken: Type.String({ minLength: 1, maxLength: 128 }),
              code: Type.Optional(TotpCode),
              recoveryCode: Type.Optional(RecoveryCode),
              passkey: Type.Optional(AuthenticationResponse),
              challengeId: Type.Optional(ChallengeId),
              tokenDelivery: Type.Optional(TokenDelivery),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: TokenResponse }),
        },
        ...rateLimited(deps.limits, [
          { name: 'mfa-verify:ip', rule: rules.tokenUse, key: byIp },
          { name: 'login-failed:ip', rule: rules.loginFailed, key: byIp, onlyStatus: 401 },
        ]),
      },
      async (request, reply) => {
        const { tokenDelivery, ...input } = request.body
        const issued = await verifyMfa(deps, input, clientContext(request))
        return sendTokens(reply, issued, tokenDelivery ?? 'cookie', 200)
      },
    )

    const RefreshBody = Type.Object(
      {
        refreshToken: Type.Optional(Type.String({ maxLength: 512 })),
        tokenDelivery: Type.Optional(TokenDelivery),
      },
      { additionalProperties: false },
    )

    app.post(
      '/auth/refresh',
      {
        schema: {
          tags: ['auth'],
          summary: 'Rotate the refresh token (cookie or body) and get a new access token',
          description:
            'The refresh token comes from the body (`refreshToken`) or else the `tessera_refresh` cookie. ' +
            '`tokenDelivery` defaults to the way the token came (body in, body out); a token sent as the cookie ' +
            'is always answered with the cookie, whatever `tokenDelivery` says, so a script cannot read it.',
          body: RefreshBody,
          response: responses({ 200: TokenResponse }),
        },
        ...rateLimited(deps.limits, [{ name: 'refresh:ip', rule: rules.refresh, key: byIp }]),
        preValidation: guardCookieEndpoint,
      },
      async (request, reply) => {
        const fromBody = request.body.refreshToken
        const presented = fromBody ?? cookie.read(request)
        // a token that came as a cookie leaves as one, whatever the body asks: otherwise any
        // script on the page (an XSS) could turn the HttpOnly cookie into a token it can read
        const delivery = fromBody === undefined ? 'cookie' : (request.body.tokenDelivery ?? 'body')
        if (presented === undefined) {
          cookie.clear(reply)
          throw new TesseraError('REFRESH_TOKEN_INVALID')
        }
        try {
          return sendTokens(reply, await refresh(deps, presented, clientContext(request)), delivery, 200)
        } catch (error) {
          // a refresh that failed for the token's sake leaves no dead cookie behind
          if (error instanceof TesseraError && error.code.startsWith('REFRESH_TOKEN_')) cookie.clear(reply)
          throw error
        }
      },
    )

    app.post(
      '/auth/logout',
      {
        schema: {
          tags: ['auth'],
          summary: 'Revoke the session of a refresh token (cookie or body); idempotent',
          body: Type.Object(
            { refreshToken: Type.Optional(Type.String({ maxLength: 512 })) },
            { additionalProperties: false },
          ),
          response: responses({ 204: Type.Null() }),
        },
        ...rateLimited(deps.limits, [{ name: 'logout:ip', rule: rules.logout, key: byIp }]),
        preValidation: guardCookieEndpoint,
      },
      async (request, reply) => {
        await logout(deps, request.body.refreshToken ?? cookie.read(request), clientContext(request))
        cookie.clear(reply)
        return reply.code(204).header('cache-control', 'no-store').send(null)
      },
    )
  }
