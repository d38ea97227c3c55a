import { createExpressAuth } from '@tessera/middleware/express'
import express from 'express'

/**
 * The API the tutorials build, protected properly: tokens verified offline against the Tessera
 * server's JWKS (found through its discovery document), roles checked per route. With
 * `revocations` (a service client's id and secret), the verifier follows the server's revocation
 * feed, so a logout or a role change takes effect here within a second instead of at `exp`.
 * `app.locals.verifier` is the verifier, for `close()` at shutdown.
 *
 * @param {{ tesseraUrl: string, audience?: string, allowedOrigins?: string[], verifier?: object,
 *   revocations?: { clientId: string, clientSecret: string } }} options
 */
export function createApp({
  tesseraUrl,
  audience = 'tessera',
  allowedOrigins = [],
  verifier = {},
  revocations,
}) {
  const app = express()
  app.disable('x-powered-by')
  const auth = createExpressAuth({
    issuer: tesseraUrl,
    audience,
    ...(revocations ? { revocations } : {}),
    ...verifier,
  })
  app.locals.verifier = auth.verifier

  // a browser app on another origin calls this API with a Bearer token
  const origins = new Set(allowedOrigins)
  app.use((req, res, next) => {
    const origin = req.headers.origin
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin)
      res.setHeader('Vary', 'Origin')
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type')
      res.setHeader('Access-Control-Allow-Methods', 'GET, DELETE')
    }
    if (req.method === 'OPTIONS') return res.status(204).end()
    next()
  })

  // any signed-in user
  app.get('/api/profile', auth.authenticate(), (req, res) => {
    res.json({ id: req.auth.sub, email: req.auth.email, roles: req.auth.roles })
  })

  // admins only
  app.get('/api/admin', auth.authenticate(), auth.authorize('admin'), (req, res) => {
    res.json({ message: `Welcome to the admin area, ${req.auth.email}` })
  })

  // admins or moderators
  app.delete('/api/users/:id', auth.authenticate(), auth.authorize('admin', 'moderator'), (req, res) => {
    res.json({ deleted: req.params.id, by: req.auth.sub })
  })

  // everyone; signed-in users get a personal greeting
  app.get('/api/feed', auth.optionalAuth(), (req, res) => {
    res.json({
      viewer: req.auth ? req.auth.email : null,
      items: [{ id: 1, title: req.auth ? `Welcome back, ${req.auth.email}` : 'Welcome, guest' }],
    })
  })

  app.use((_req, res) => {
    res.status(404).type('application/problem+json').send({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      code: 'NOT_FOUND',
      detail: 'Not found.',
    })
  })
  return app
}
