import Fastify, { type FastifyInstance, type HookHandlerDoneFunction, type RouteHandlerMethod } from 'fastify'
import { type CryptoKey, exportJWK, generateKeyPair, type JWK } from 'jose'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type AuthHook, tesseraAuth } from '../src/fastify.js'
import { accessClaims, sign } from './helpers/tokens.js'

const ISSUER = 'https://auth.example.com'
let privateKey: CryptoKey
let publicJwk: JWK
let app: FastifyInstance | undefined

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }
})
afterEach(async () => {
  await app?.close()
  app = undefined
})

const token = () => sign(accessClaims(ISSUER), { alg: 'RS256', kid: 'k1', typ: 'at+jwt' }, privateKey)

/** How a hook handed a request on: through `done` before it returned, or through what it returned. */
type Handover = 'done at once' | 'promise'

/** Wraps `hook` as Fastify calls it (with `done`) and records how each request was handed on. */
function watched(hook: AuthHook, log: Handover[]) {
  return (
    request: Parameters<AuthHook>[0],
    reply: Parameters<AuthHook>[1],
    done: HookHandlerDoneFunction,
  ): Promise<void> | undefined => {
    let calledAtOnce = false
    let returned = false
    const result = hook(request, reply, (error) => {
      if (!returned) calledAtOnce = true
      done(error)
    })
    returned = true
    if (result === undefined && calledAtOnce) log.push('done at once')
    else if (result instanceof Promise && !calledAtOnce) log.push('promise')
    else throw new Error('a hook must hand a request on one way, not both')
    return result
  }
}

async function start(): Promise<FastifyInstance> {
  app = Fastify({ logger: false })
  await app.register(tesseraAuth, { issuer: ISSUER, audience: 'tessera', jwks: { keys: [publicJwk] } })
  return app
}

/** GET /admin behind authenticate and authorize(role), recording how each hook handed on. */
function watchedRoute(server: FastifyInstance, role: string, handler: RouteHandlerMethod) {
  const authenticated: Handover[] = []
  const authorized: Handover[] = []
  server.get(
    '/admin',
    {
      onRequest: [
        watched(server.tessera.authenticate, authenticated),
        watched(server.tessera.authorize(role), authorized),
      ],
    },
    handler,
  )
  return { authenticated, authorized }
}

describe('Fastify hooks, as Fastify calls them', () => {
  it('hand a remembered token and a matching role on through done at once, a new token through a promise', async () => {
    const server = await start()
    const { authenticated, authorized } = watchedRoute(server, 'user', async (request) => ({
      sub: request.auth?.sub,
    }))
    const headers = { authorization: `Bearer ${await token()}` }
    const first = await server.inject({ url: '/admin', headers })
    const second = await server.inject({ url: '/admin', headers })
    expect([first.statusCode, second.statusCode]).toEqual([200, 200])
    expect(second.json()).toEqual(first.json())
    expect(authenticated).toEqual(['promise', 'done at once'])
    expect(authorized).toEqual(['done at once', 'done at once'])
  })

  it('answer a refusal through a promise, so Fastify waits for the problem response', async () => {
    const server = await start()
    const { authenticated, authorized } = watchedRoute(server, 'admin', async () => ({ reached: true }))
    const headers = { authorization: `Bearer ${await token()}` }
    expect((await server.inject({ url: '/admin' })).statusCode).toBe(401)
    await server.inject({ url: '/admin', headers })
    const refused = await server.inject({ url: '/admin', headers })
    expect(refused.statusCode).toBe(403)
    // no token: refused before authorize runs; then a new token, then the remembered one
    expect(authenticated).toEqual(['promise', 'promise', 'done at once'])
    expect(authorized).toEqual(['promise', 'promise'])
  })
})

describe('Fastify hooks, called by code of their own', () => {
  it('always answer a promise without done, so a hook can await them, for a new or a remembered token', async () => {
    const server = await start()
    const results: unknown[] = []
    server.get(
      '/me',
      {
        async onRequest(request, reply) {
          const authenticated = server.tessera.authenticate(request, reply)
          results.push(authenticated)
          await authenticated
          if (reply.sent) return
          const authorized = server.tessera.authorize('user')(request, reply)
          results.push(authorized)
          await authorized
        },
      },
      async (request) => ({ sub: request.auth?.sub }),
    )
    const headers = { authorization: `Bearer ${await token()}` }
    const answers = [
      await server.inject({ url: '/me', headers }),
      await server.inject({ url: '/me', headers }),
      await server.inject({ url: '/me' }),
    ]
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 401])
    expect(results).toHaveLength(5)
    for (const result of results) expect(result).toBeInstanceOf(Promise)
  })
})
