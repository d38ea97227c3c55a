import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import {
  authorize,
  createExpressAuth,
  type ExpressAuthConfig,
  authenticate as expressAuthenticate,
} from '../../src/express.js'
import {
  type FastifyAuthConfig,
  authenticate as fastifyAuthenticate,
  authorize as fastifyAuthorize,
  tesseraAuth,
} from '../../src/fastify.js'

export interface HttpResult {
  status: number
  headers: Headers
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: Record<string, unknown> | undefined
  text: string
}

export interface RunningApp {
  url: string
  get(path: string, headers?: Record<string, string>): Promise<HttpResult>
  close(): Promise<void>
}

/** The routes every test app serves, on Express and Fastify alike. */
export type AppOptions = ExpressAuthConfig & FastifyAuthConfig

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/** The `access_token` cookie of a Cookie header (no cookie-parser needed for one name). */
export function accessTokenCookie(header: string | undefined): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [name, ...value] = part.trim().split('=')
    if (name === 'access_token') return decodeURIComponent(value.join('='))
  }
  return undefined
}

/** GET `url` and read the answer, its body parsed when it is JSON. */
export async function getJson(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  const response = await fetch(url, { headers })
  const text = await response.text()
  let body: Record<string, unknown> | undefined
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    body = undefined
  }
  return { status: response.status, headers: response.headers, body, text }
}

function client(url: string): RunningApp['get'] {
  return (path, headers) => getJson(`${url}${path}`, headers)
}

/**
 * An Express 5 app: `createExpressAuth` for most routes, the standalone exports for the others.
 * Routes answer `{ auth }` (null when anonymous).
 */
export async function startExpressApp(options: AppOptions): Promise<RunningApp> {
  const app = express()
  const auth = createExpressAuth(options)
  const ok: express.RequestHandler = (req, res) => {
    res.json({ auth: req.auth ?? null })
  }
  app.get('/me', auth.authenticate(), ok)
  app.get('/admin', auth.authenticate(), authorize('admin'), ok)
  app.get('/staff', auth.authenticate(), auth.authorize('admin', 'moderator'), ok)
  app.get('/maybe', auth.optionalAuth(), ok)
  app.get(
    '/cookie',
    expressAuthenticate({
      verifier: auth.verifier,
      getToken: (req) => accessTokenCookie(req.headers.cookie),
    }),
    ok,
  )
  app.get('/authorize-only', authorize('admin'), ok)

  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    get: client(url),
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** A Fastify 5 app: the `tesseraAuth` plugin for most routes, the standalone hooks for the others. */
export async function startFastifyApp(options: AppOptions): Promise<RunningApp> {
  const app = Fastify({ logger: false })
  await app.register(tesseraAuth, options)
  const ok = async (request: { auth?: unknown }) => ({ auth: request.auth ?? null })
  app.get('/me', { onRequest: app.tessera.authenticate }, ok)
  app.get('/admin', { onRequest: [app.tessera.authenticate, app.tessera.authorize('admin')] }, ok)
  app.get(
    '/staff',
    { onRequest: app.tessera.authenticate, preHandler: fastifyAuthorize('admin', 'moderator') },
    ok,
  )
  app.get('/maybe', { onRequest: app.tessera.optionalAuth }, ok)
  app.get(
    '/cookie',
    {
      onRequest: fastifyAuthenticate({
        verifier: app.tessera.verifier,
        getToken: (request) => accessTokenCookie(request.headers.cookie),
      }),
    },
    ok,
  )
  app.get('/authorize-only', { onRequest: app.tessera.authorize('admin') }, ok)

  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return { url, get: client(url), close: () => app.close() }
}

export const FRAMEWORKS = [
  { framework: 'Express', start: startExpressApp },
  { framework: 'Fastify', start: startFastifyApp },
] as const
