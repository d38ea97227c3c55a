import type { IncomingMessage, ServerResponse } from 'node:http'
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet'
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

/** Registers helmet on every route; call before the routes, so its hooks reach them. */
export async function registerSecurityHeaders(
  app: FastifyInstance,
  config: Pick<Config, 'publicUrl'>,
): Promise<void> {
  await app.register(fastifyHelmet, helmetOptions(config))
  // the JWKS and the discovery document are for every verifier, wherever it runs: a no-cors load
  // from another site (which CORP governs) must work too
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url?.startsWith('/.well-known/')) {
      reply.header('cross-origin-resource-policy', 'cross-origin')
    }
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
