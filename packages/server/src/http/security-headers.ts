import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyHelmetOptions } from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import helmet from 'helmet'
import type { Config } from '../config.js'

/**
 * Headers for a JSON API: a response is data, never a document to render, frame or run scripts in,
 * so the CSP allows nothing. Pages with their own needs set their own headers after these (the
 * reset and verification pages in routes/pages.ts, the docs through swagger-ui's `staticCSP`):
 * helmet writes in `onRequest`, and a header a route sets later replaces helmet's.
 */
export function helmetOptions(config: Pick<Config, 'publicUrl'>): FastifyHelmetOptions {
  const https = new URL(config.publicUrl).protocol === 'https:'
  return {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
      },
    },
    // same-site: the API is called from the site's own front ends; cross-origin callers use CORS,
    // which CORP does not affect. /.well-known/* opens up further below.
    crossOriginResourcePolicy: { policy: 'same-site' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    // HSTS over plain http is ignored by browsers and would only confuse; includeSubDomains is the
    // operator's call for their whole domain, not an auth server's
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
  }
}

/**
 * Sets helmet's headers on every route; call before the routes, so its hook reaches them. The
 * options are the same for every answer, so helmet runs once, at start-up
 * ({@link staticSecurityHeaders}): @fastify/helmet would build helmet's middleware again for each
 * request (its options checked, the CSP string joined), a few percent of a refresh's CPU.
 */
export async function registerSecurityHeaders(
  app: FastifyInstance,
  config: Pick<Config, 'publicUrl'>,
): Promise<void> {
  const headers = staticSecurityHeaders(config)
  // a route with needs of its own (the pages, the docs) sets its header after this one, replacing it
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(headers)
    // the JWKS and the discovery document are for every verifier, wherever it runs: a no-cors load
    // from another site (which CORP governs) must work too
    if (request.routeOptions.url?.startsWith('/.well-known/')) {
      reply.header('cross-origin-resource-policy', 'cross-origin')
    }
    done()
  })
}

/**
 * The headers helmet sets on every response, as a plain object, for the answers written before
 * any hook runs (a bad URL, a malformed request, a timeout): the same helmet, the same options,
 * run once against a response that only records what is set.
 */
export function staticSecurityHeaders(config: Pick<Config, 'publicUrl'>): Readonly<Record<string, string>> {
  const { global: _global, ...options } = helmetOptions(config)
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader(name: string, value: number | string | readonly string[]) {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()]
    },
  }
  // the same options, typed twice: @fastify/helmet reads helmet's CommonJS declarations, we its ESM ones
  const helmetConfig = options as unknown as Parameters<typeof helmet>[0]
  // helmet's middleware only calls setHeader and removeHeader, synchronously
  helmet(helmetConfig)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return Object.freeze(headers)
}
