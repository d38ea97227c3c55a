import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import {
  createExpressAuth,
  authenticate as expressAuthenticate,
  requireScope as expressRequireScope,
} from '../../src/express.js'
import {
  authenticate as fastifyAuthenticate,
  requireScope as fastifyRequireScope,
  tesseraAuth,
} from '../../src/fastify.js'
import type { Verifier } from '../../src/index.js'
import { type AppOptions, getJson, type HttpResult } from './apps.js'

export interface ServiceApp {
  url: string
  verifier: Verifier
  get(path: string, headers?: Record<string, string>): Promise<HttpResult>
  close(): Promise<void>
}

const get = (url: string, headers?: Record<string, string>): Promise<HttpResult> => getJson(url, headers)

/**
 * The routes of a resource server that users and services call, on Express 5. Each answers `{ auth }`:
 * - `/me`: users only (unless the options say `services: true`); `/maybe`: optional, likewise;
 * - `/users-only`: users only whatever the options say;
 * - `/either`: users and services; `/orders`: services with `orders:read`;
 * - `/orders/write`: `orders:read` and `orders:write`; `/standalone`: the same as `/orders`
 *   built from the standalone exports; `/scope-only`: `requireScope` without authentication.
 */
export async function startExpressServiceApp(options: AppOptions): Promise<ServiceApp> {
  const app = express()
  const auth = createExpressAuth(options)
  const ok: express.RequestHandler = (req, res) => {
    res.json({ auth: req.auth ?? null })
  }
  app.get('/me', auth.authenticate(), ok)
  app.get('/maybe', auth.optionalAuth(), ok)
  app.get('/users-only', auth.authenticate({ services: false }), ok)
  app.get('/either', auth.authenticate({ services: true }), ok)
  app.get('/orders', auth.authenticate({ services: true }), auth.requireScope('orders:read'), ok)
  app.get(
    '/orders/write',
    auth.authenticate({ services: true }),
    auth.requireScope('orders:read', 'orders:write'),
    ok,
  )
  app.get(
    '/standalone',
    expressAuthenticate({ verifier: auth.verifier, services: true }),
    expressRequireScope('orders:read'),
    ok,
  )
  app.get('/scope-only', auth.requireScope('orders:read'), ok)
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    verifier: auth.verifier,
    get: (path, headers) => get(`${url}${path}`, headers),
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** The same routes on Fastify 5, with the `tesseraAuth` plugin. */
export async function startFastifyServiceApp(options: AppOptions): Promise<ServiceApp> {
  const app = Fastify({ logger: false })
  await app.register(tesseraAuth, options)
  const ok = async (request: { auth?: unknown }) => ({ auth: request.auth ?? null })
  const { tessera } = app
  app.get('/me', { onRequest: tessera.authenticate }, ok)
  app.get('/maybe', { onRequest: tessera.optionalAuth }, ok)
  app.get('/users-only', { onRequest: tessera.authenticateWith({ services: false }) }, ok)
  app.get('/either', { onRequest: tessera.authenticateWith({ services: true }) }, ok)
  app.get(
    '/orders',
    { onRequest: [tessera.authenticateWith({ services: true }), tessera.requireScope('orders:read')] },
    ok,
  )
  app.get(
    '/orders/write',
    {
      onRequest: tessera.authenticateWith({ services: true }),
      preHandler: tessera.requireScope('orders:read', 'orders:write'),
    },
    ok,
  )
  app.get(
    '/standalone',
    {
      onRequest: [
        fastifyAuthenticate({ verifier: tessera.verifier, services: true }),
        fastifyRequireScope('orders:read'),
      ],
    },
    ok,
  )
  app.get('/scope-only', { onRequest: tessera.requireScope('orders:read') }, ok)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return {
    url,
    verifier: tessera.verifier,
    get: (path, headers) => get(`${url}${path}`, headers),
    close: () => app.close(),
  }
}

export const SERVICE_FRAMEWORKS = [
  { framework: 'Express', start: startExpressServiceApp },
  { framework: 'Fastify', start: startFastifyServiceApp },
] as const
