import type { FastifyReply } from 'fastify'
import type { FlowDeps } from '../flows/deps.js'
import type { IssuedTokens } from '../flows/issued-tokens.js'
import { refreshCookie } from './refresh-cookie.js'
import type { TokenDelivery, TokenResponse } from './schemas.js'
import { userView } from './views.js'

/**
 * Sends a sign-in's token response: the refresh token in the body or as the refresh cookie, as
 * the request's `tokenDelivery` asked; never cached.
 */
export function tokenReply(deps: Pick<FlowDeps, 'config' | 'clock'>) {
  const cookie = refreshCookie(deps.config)
  return (reply: FastifyReply, issued: IssuedTokens, delivery: TokenDelivery, status: 200 | 201) => {
    const body: TokenResponse = {
      user: userView(issued.user),
      accessToken: issued.accessToken,
      tokenType: 'Bearer',
      expiresIn: issued.expiresIn,
    }
    if (delivery === 'body') body.refreshToken = issued.refreshToken
    else cookie.set(reply, issued.refreshToken, issued.refreshExpiresAt, deps.clock.now())
    return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').send(body)
  }
}
