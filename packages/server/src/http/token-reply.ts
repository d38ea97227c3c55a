import type { FastifyReply } from 'fastify'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { IssuedTokens } from '../flows/issued-tokens.js'
import type { EnrolmentChallenge, MfaChallenge } from '../flows/mfa/mfa-sign-in.js'
import { refreshCookie } from './refresh-cookie.js'
import type { TokenDelivery, TokenResponse } from './schemas.js'
import { userView } from './views.js'

/** How the routes that sign someone in answer: the token response, `mfa_required`, or `mfa_enrollment_required`. */
export interface TokenReplies {
  /**
   * The token response; the refresh token in the body or as the cookie, as `delivery` says. `extra`
   * joins the body (the recovery codes of an enrolment that signs in).
   */
  tokens(
    reply: FastifyReply,
    issued: IssuedTokens,
    delivery: TokenDelivery,
    status: 200 | 201,
    extra?: Record<string, unknown>,
  ): FastifyReply
  /** 200 `{ status: 'mfa_required', mfaToken, methods }`, no tokens. */
  mfaRequired(reply: FastifyReply, challenge: MfaChallenge): FastifyReply
  /** 200 `{ status: 'mfa_enrollment_required', enrollmentToken }`, no tokens. */
  enrolmentRequired(reply: FastifyReply, challenge: EnrolmentChallenge): FastifyReply
}

export function tokenReplies(deps: { config: Pick<Config, 'publicUrl'>; clock: Clock }): TokenReplies {
  const cookie = refreshCookie(deps.config)
  return {
    tokens(reply, issued, delivery, status, extra = {}) {
      const body: TokenResponse & Record<string, unknown> = {
        ...extra,
        user: userView(issued.user),
        accessToken: issued.accessToken,
        tokenType: 'Bearer',
        expiresIn: issued.expiresIn,
      }
      if (delivery === 'body') body.refreshToken = issued.refreshToken
      else cookie.set(reply, issued.refreshToken, issued.refreshExpiresAt, deps.clock.now())
      return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').send(body)
    },
    mfaRequired(reply, challenge) {
      return reply.header('cache-control', 'no-store').send({
        status: 'mfa_required' as const,
        mfaToken: challenge.mfaToken,
        methods: challenge.methods,
      })
    },
    enrolmentRequired(reply, challenge) {
      return reply.header('cache-control', 'no-store').send({
        status: 'mfa_enrollment_required' as const,
        enrollmentToken: challenge.enrollmentToken,
      })
    },
  }
}
