/** Fastify + @tessera/middleware, used as its README shows; keys discovered from the issuer. */
import { tesseraAuth } from '@tessera/middleware/fastify'
import Fastify from 'fastify'
import { announceReady, portOf } from './ready.js'

const issuer = process.env.BENCH_ISSUER
if (!issuer) throw new Error('BENCH_ISSUER is required')

const app = Fastify()
// BENCH_CACHE_SIZE=0 turns the verified-token cache off (default: the middleware's own, 10,000)
const cacheSize =
  process.env.BENCH_CACHE_SIZE === undefined ? {} : { cacheSize: Number(process.env.BENCH_CACHE_SIZE) }
await app.register(tesseraAuth, { issuer, audience: 'tessera', ...cacheSize })
app.get('/api/profile', { onRequest: app.tessera.authenticate }, async (request) => ({
  sub: request.auth?.sub,
}))
await app.listen({ host: '127.0.0.1', port: 0 })
announceReady(portOf(app.server.address()))
