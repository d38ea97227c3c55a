import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import {
  createExpressAuth,
  type ExpressAuthConfig,
  authorize as expressAuthorize,
} from '../../src/express.js'
import { type FastifyAuthConfig, authorize as fastifyAuthorize, tesseraAuth } from '../../src/fastify.js'
import type { Clock } from '../../src/index.js'
import { getJson, type HttpResult, type RunningApp } from './apps.js'

/**
 * The step-up routes, on Express and Fastify alike, each answering `{ auth }`:
 * - `/payouts`: the middleware's `authorize({ mfa: true, maxAge: 300 })` on its shared clock;
 * - `/recent`: the standalone `authorize({ maxAge: 300, clock })`;
 * - `/mfa`: the standalone `authorize({ mfa: true })`;
 * - `/admin-mfa`: `authorize({ roles: ['admin'], mfa: true })`;
 * - `/admin`: the string form, `authorize('admin')`.
 */
export type StepUpAppOptions = ExpressAuthConfig & FastifyAuthConfig & { clock: Clock }

const get = (url: string, path: string, headers?: Record<string, string>): Promise<HttpResult> =>
  getJson(`${url}${path}`, headers)

export async function startExpressStepUpApp(options: StepUpAppOptions): Promise<RunningApp> {
  const app = express()
  const auth = createExpressAuth(options)
  const ok: express.RequestHandler = (req, res) => {
    res.json({ auth: req.auth ?? null })
  }
  app.get('/payouts', auth.authenticate(), auth.authorize({ mfa: true, maxAge: 300 }), ok)
  app.get('/recent', auth.authenticate(), expressAuthorize({ maxAge: 300, clock: options.clock }), ok)
  app.get('/mfa', auth.authenticate(), expressAuthorize({ mfa: true }), ok)
  app.get('/admin-mfa', auth.authenticate(), auth.authorize({ roles: ['admin'], mfa: true }), ok)
  app.get('/admin', auth.authenticate(), auth.authorize('admin'), ok)
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    get: (path, headers) => get(url, path, headers),
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

export async function startFastifyStepUpApp(options: StepUpAppOptions): Promise<RunningApp> {
  const app = Fastify({ logger: false })
  await app.register(tesseraAuth, options)
  const ok = async (request: { auth?: unknown }) => ({ auth: request.auth ?? null })
  const { tessera } = app
  app.get(
    '/payouts',
    { onRequest: [tessera.authenticate, tessera.authorize({ mfa: true, maxAge: 300 })] },
    ok,
  )
  app.get(
    '/recent',
    { onRequest: tessera.authenticate, preHandler: fastifyAuthorize({ maxAge: 300, clock: options.clock }) },
    ok,
  )
  app.get('/mfa', { onRequest: [tessera.authenticate, fastifyAuthorize({ mfa: true })] }, ok)
  app.get(
    '/admin-mfa',
    { onRequest: [tessera.authenticate, tessera.authorize({ roles: ['admin'], mfa: true })] },
    ok,
  )
  app.get('/admin', { onRequest: [tessera.authenticate, tessera.authorize('admin')] }, ok)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return { url, get: (path, headers) => get(url, path, headers), close: () => app.close() }
}

export const STEP_UP_FRAMEWORKS = [
  { framework: 'Express', start: startExpressStepUpApp },
  { framework: 'Fastify', start: startFastifyStepUpApp },
] as const
