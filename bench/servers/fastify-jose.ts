/**
 * Fastify + plain jose: `jwtVerify` against `createRemoteJWKSet`, the verification Tessera's README
 * shows for services that do not use the middleware.
 */
import Fastify from 'fastify'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { announceReady, portOf } from './ready.js'

const issuer = process.env.BENCH_ISSUER
if (!issuer) throw new Error('BENCH_ISSUER is required')

declare module 'fastify' {
  interface FastifyRequest {
    sub?: string
  }
}

const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`))
const app = Fastify()
app.decorateRequest('sub', undefined)
app.get(
  '/api/profile',
  {
    onRequest: async (request, reply) => {
      const header = request.headers.authorization
      if (!header?.startsWith('Bearer ')) return reply.code(401).send({ error: 'missing token' })
      try {
        const { payload } = await jwtVerify(header.slice(7), jwks, {
          algorithms: ['RS256'],
          issuer,
          audience: 'tessera',
          typ: 'at+jwt',
        })
        request.sub = payload.sub
      } catch {
        return reply.code(401).send({ error: 'invalid token' })
      }
    },
  },
  async (request) => ({ sub: request.sub }),
)
await app.listen({ host: '127.0.0.1', port: 0 })
announceReady(portOf(app.server.address()))
