/**
 * servers/fastify-middleware.ts with the revocation feed on when BENCH_FEED_CLIENT_ID and
 * BENCH_FEED_CLIENT_SECRET are set (off otherwise); it reports ready once the feed caught up.
 */

import { tesseraAuth } from '@tessera/middleware/fastify'
import Fastify from 'fastify'
import { feedCaughtUp, feedFromEnv } from '../lib/feed-options.js'
import { announceReady, portOf } from './ready.js'

const issuer = process.env.BENCH_ISSUER
if (!issuer) throw new Error('BENCH_ISSUER is required')

const app = Fastify()
await app.register(tesseraAuth, { issuer, audience: 'tessera', ...feedFromEnv(process.env) })
app.get('/api/profile', { onRequest: app.tessera.authenticate }, async (request) => ({
  sub: request.auth?.sub,
}))
await feedCaughtUp(app.tessera.verifier, process.env)
await app.listen({ host: '127.0.0.1', port: 0 })
announceReady(portOf(app.server.address()))
