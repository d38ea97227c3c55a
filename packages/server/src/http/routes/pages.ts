import { createHash } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../../config.js'
import { COMMON_SCRIPT } from '../pages/common-script.js'
import { CONFIRM_EMAIL_SCRIPT, confirmEmailHtml } from '../pages/confirm-email.js'
import { MAGIC_LINK_SCRIPT, magicLinkHtml } from '../pages/magic-link.js'
import { PAGES_CSS } from '../pages/pages-css.js'
import { RESET_PASSWORD_SCRIPT, resetPasswordHtml } from '../pages/reset-password.js'
import { VERIFY_EMAIL_SCRIPT, verifyEmailHtml } from '../pages/verify-email.js'

export interface PageDeps {
  config: Pick<Config, 'passwordMinLength' | 'passwordMaxLength' | 'magicLink'>
}

/** Same-origin script, style and API calls only; nothing inline, no framing, no `<base>`. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

const SECURITY_HEADERS = {
  'content-security-policy': PAGE_CSP,
  // the pages are opened with a token in the URL: no Referer may carry it anywhere
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
}

interface Asset {
  body: string
  type: string
  etag: string
}

const asset = (body: string, type: string): Asset => ({
  body,
  type,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
})

const matchesEtag = (request: FastifyRequest, etag: string): boolean =>
  (request.headers['if-none-match'] ?? '')
    .split(',')
    .some((candidate) => candidate.trim().replace(/^W\//, '') === etag)

/**
 * The pages behind the default reset, verification and magic links, so those flows work without a
 * front end of one's own. The routes are hidden from the OpenAPI document: they are for people, not API
 * clients.
 */
export const pageRoutes =
  (deps: PageDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    // scoped to this plugin: the API's JSON routes keep their own headers
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.headers(SECURITY_HEADERS)
      return payload
    })

    const pages: Record<string, string> = {
      'reset-password': resetPasswordHtml(deps.config),
      'verify-email': verifyEmailHtml(),
      'confirm-email': confirmEmailHtml(),
    }
    // served only with TESSERA_MAGIC_LINK=on, like its API routes
    if (deps.config.magicLink) pages['magic-link'] = magicLinkHtml()
    for (const [name, html] of Object.entries(pages)) {
      app.get(`/${name}`, { schema: { hide: true } }, async (request, reply) => {
        const query = request.url.indexOf('?')
        const path = query === -1 ? request.url : request.url.slice(0, query)
        // `/reset-password/` matches too (ignoreTrailingSlash), but there the page's relative URLs
        // would miss its assets and the API; a relative Location keeps a proxy's path prefix
        if (path.endsWith('/')) {
          return reply.redirect(`../${name}${query === -1 ? '' : request.url.slice(query)}`, 302)
        }
        // reached with a token in the URL: no cache may keep the page or its address
        return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html)
      })
    }

    const assets: Record<string, Asset> = {
      '/pages/common.js': asset(COMMON_SCRIPT, 'text/javascript; charset=utf-8'),
      '/pages/reset-password.js': asset(RESET_PASSWORD_SCRIPT, 'text/javascript; charset=utf-8'),
      '/pages/verify-email.js': asset(VERIFY_EMAIL_SCRIPT, 'text/javascript; charset=utf-8'),
      '/pages/confirm-email.js': asset(CONFIRM_EMAIL_SCRIPT, 'text/javascript; charset=utf-8'),
      '/pages/pages.css': asset(PAGES_CSS, 'text/css; charset=utf-8'),
    }
    if (deps.config.magicLink) {
      assets['/pages/magic-link.js'] = asset(MAGIC_LINK_SCRIPT, 'text/javascript; charset=utf-8')
    }
    for (const [url, { body, type, etag }] of Object.entries(assets)) {
      app.get(url, { schema: { hide: true } }, async (request, reply) => {
        // revalidated on every use, so a page never runs against the script of an older version
        reply.header('cache-control', 'no-cache').header('etag', etag)
        if (matchesEtag(request, etag)) return reply.code(304).send()
        return reply.type(type).send(body)
      })
    }
  }
