import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express, { type ErrorRequestHandler } from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { type CryptoKey, exportJWK, generateKeyPair, type JWK } from 'jose'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createExpressAuth,
  authenticate as expressAuthenticate,
  authorize as expressAuthorize,
  TesseraAuthError,
} from '../src/express.js'
import { createFastifyAuth, authenticate as fastifyAuthenticate, tesseraAuth } from '../src/fastify.js'
import { createVerifier, type VerifierOptions } from '../src/index.js'
import { bearer } from './helpers/apps.js'
import { expectProblem } from './helpers/expect.js'
import { accessClaims, sign } from './helpers/tokens.js'

const ISSUER = 'https://auth.example.com'
let privateKey: CryptoKey
let publicJwk: JWK
let options: VerifierOptions

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }
  options = { issuer: ISSUER, audience: 'tessera', jwks: { keys: [publicJwk] } }
})

const token = (claims = accessClaims(ISSUER)) =>
  sign(claims, { alg: 'RS256', kid: 'k1', typ: 'at+jwt' }, privateKey)

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

async function serveExpress(app: express.Express) {
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  closers.push(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return (path: string, headers: Record<string, string> = {}) => get(`${url}${path}`, headers)
}

async function serveFastify(app: FastifyInstance) {
  await app.listen({ port: 0, host: '127.0.0.1' })
  closers.push(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return (path: string, headers: Record<string, string> = {}) => get(`${url}${path}`, headers)
}

async function get(url: string, headers: Record<string, string>) {
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

describe('Express setup', () => {
  it('throws at setup for bad verifier options, a bad realm, or authorize without roles', () => {
    expect(() => createExpressAuth({ audience: 'tessera' } as VerifierOptions)).toThrow(/issuer is required/)
    expect(() => expressAuthenticate({ ...options, realm: 'say "hi"' })).toThrow(/realm/)
    expect(() => expressAuthorize()).toThrow(/at least one role/)
    expect(() => createExpressAuth(options).authorize('')).toThrow(/at least one role/)
    expect(() => createExpressAuth({ ...options, verifier: createVerifier(options) } as never)).toThrow(
      /not both/,
    )
  })

  it('accepts a shared verifier and names the configured realm in the challenge', async () => {
    const verifier = createVerifier(options)
    const app = express()
    app.get('/shared', expressAuthenticate(verifier), (req, res) => {
      res.json({ sub: req.auth?.sub })
    })
    app.get('/realm', createExpressAuth({ verifier, realm: 'orders-api' }).authenticate(), (_req, res) => {
      res.json({})
    })
    const call = await serveExpress(app)
    const result = await call('/shared', bearer(await token(accessClaims(ISSUER, { sub: 'shared-user' }))))
    expect(result.body).toEqual({ sub: 'shared-user' })
    expectProblem(await call('/realm'), 'TOKEN_MISSING', 'orders-api')
  })

  it('hands failures to onError, which can defer to the Express error handler', async () => {
    const app = express()
    const auth = createExpressAuth({ ...options, onError: (error, _req, _res, next) => next(error) })
    app.get('/admin', auth.authenticate(), auth.authorize('admin'), (_req, res) => {
      res.json({ reached: true })
    })
    const handler: ErrorRequestHandler = (error, _req, res, _next) => {
      const known = error instanceof TesseraAuthError
      res.status(known ? error.status : 500).json({ mine: known ? error.code : 'other' })
    }
    app.use(handler)
    const call = await serveExpress(app)
    expect(await call('/admin')).toMatchObject({ status: 401, body: { mine: 'TOKEN_MISSING' } })
    expect(await call('/admin', bearer(await token()))).toMatchObject({
      status: 403,
      body: { mine: 'FORBIDDEN' },
    })
  })

  it('passes errors that are not auth failures (a getToken bug, an isRevoked outage) to next', async () => {
    const app = express()
    const seen: unknown[] = []
    app.get(
      '/broken-getter',
      expressAuthenticate({
        ...options,
        getToken: () => {
          throw new Error('cookie jar on fire')
        },
      }),
      (_req, res) => {
        res.json({ reached: true })
      },
    )
    app.get(
      '/revocation-down',
      expressAuthenticate({
        ...options,
        isRevoked: async () => {
          throw new Error('deny-list unreachable')
        },
      }),
      (_req, res) => {
        res.json({ reached: true })
      },
    )
    const handler: ErrorRequestHandler = (error, _req, res, _next) => {
      seen.push(error)
      res.status(500).json({ error: 'internal' })
    }
    app.use(handler)
    const call = await serveExpress(app)
    expect((await call('/broken-getter')).status).toBe(500)
    expect((await call('/revocation-down', bearer(await token()))).status).toBe(500)
    expect(seen.map((error) => (error as Error).message)).toEqual([
      'cookie jar on fire',
      'deny-list unreachable',
    ])
  })
})

describe('Fastify setup', () => {
  it('fails register for bad options', async () => {
    const app = Fastify()
    app.register(tesseraAuth, { issuer: `${ISSUER}/`, audience: 'tessera' })
    await expect(app.ready()).rejects.toThrow(/trailing slash/)
    await app.close()
  })

  it('is not encapsulated: its decorations are visible on the instance that registers it', async () => {
    const app = Fastify()
    await app.register(tesseraAuth, options)
    expect(app.hasDecorator('tessera')).toBe(true)
    expect(app.hasRequestDecorator('auth')).toBe(true)
    app.get('/me', { onRequest: app.tessera.authenticate }, async (request) => ({ sub: request.auth?.sub }))
    const call = await serveFastify(app)
    expect((await call('/me', bearer(await token(accessClaims(ISSUER, { sub: 'root' }))))).body).toEqual({
      sub: 'root',
    })
  })

  it('lets onError answer, and fails closed through the error handler when it sends nothing', async () => {
    const app = Fastify()
    const answered = createFastifyAuth({
      ...options,
      onError: (error, _request, reply) => reply.code(error.status).send({ custom: error.code }),
    })
    const silent = createFastifyAuth({ ...options, onError: () => undefined })
    let handlerRan = false
    app.setErrorHandler((error, _request, reply) => {
      const known = error instanceof TesseraAuthError
      reply.code(known ? error.status : 500).send({ handled: known ? error.code : 'other' })
    })
    app.get('/answered', { onRequest: answered.authenticate }, async () => ({ reached: true }))
    app.get('/silent', { onRequest: [silent.authenticate, silent.authorize('admin')] }, async () => {
      handlerRan = true
      return { reached: true }
    })
    const call = await serveFastify(app)
    expect(await call('/answered')).toMatchObject({ status: 401, body: { custom: 'TOKEN_MISSING' } })
    expect(await call('/silent')).toMatchObject({ status: 401, body: { handled: 'TOKEN_MISSING' } })
    expect(await call('/silent', bearer(await token()))).toMatchObject({
      status: 403,
      body: { handled: 'FORBIDDEN' },
    })
    expect(handlerRan).toBe(false)
  })

  it('accepts a shared verifier in the standalone hooks, with a custom realm', async () => {
    const app = Fastify()
    const verifier = createVerifier(options)
    app.get(
      '/me',
      { onRequest: fastifyAuthenticate({ verifier, realm: 'orders-api' }) },
      async (request) => ({
        sub: request.auth?.sub,
      }),
    )
    const call = await serveFastify(app)
    expectProblem(await call('/me'), 'TOKEN_MISSING', 'orders-api')
    const expired = await token(accessClaims(ISSUER, { iat: 1, exp: 2 }))
    expectProblem(await call('/me', bearer(expired)), 'TOKEN_EXPIRED', 'orders-api')
  })
})
