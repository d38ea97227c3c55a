import type { FastifyReply, FastifyRequest } from 'fastify'
import { type Config, isLoopbackHost } from '../config.js'

export const REFRESH_COOKIE = 'tessera_refresh'

export interface RefreshCookie {
  set(reply: FastifyReply, token: string, expiresAt: Date, now: Date): void
  clear(reply: FastifyReply): void
  read(request: FastifyRequest): string | undefined
}

/**
 * The refresh cookie: HttpOnly, SameSite=Strict, scoped to the auth routes under the public URL's
 * path (`/api/auth` behind a proxy at `/api`), Secure unless the public URL is plain localhost.
 */
export function refreshCookie(config: Pick<Config, 'publicUrl'>): RefreshCookie {
  const url = new URL(config.publicUrl)
  const path = `${url.pathname.replace(/\/+$/, '')}/auth`
  const secure = !(url.protocol === 'http:' && isLoopbackHost(url.hostname))
  const base = { httpOnly: true, sameSite: 'strict', path, secure } as const
  return {
    set(reply, token, expiresAt, now) {
      const maxAge = Math.max(0, Math.round((expiresAt.getTime() - now.getTime()) / 1000))
      reply.setCookie(REFRESH_COOKIE, token, { ...base, maxAge })
    },
    clear(reply) {
      reply.setCookie(REFRESH_COOKIE, '', { ...base, maxAge: 0, expires: new Date(0) })
    },
    read: (request) => request.cookies[REFRESH_COOKIE] || undefined,
  }
}
