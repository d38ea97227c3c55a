/**
 * servers/express-middleware.ts with the revocation feed on when BENCH_FEED_CLIENT_ID and
 * BENCH_FEED_CLIENT_SECRET are set (off otherwise); it reports ready once the feed caught up.
 */

import { createExpressAuth } from '@tessera/middleware/express'
import express from 'express'
import { feedCaughtUp, feedFromEnv } from '../lib/feed-options.js'
import { announceReady, portOf } from './ready.js'

const issuer = process.env.BENCH_ISSUER
if (!issuer) throw new Error('BENCH_ISSUER is required')

const auth = createExpressAuth({ issuer, audience: 'tessera', ...feedFromEnv(process.env) })
const app = express()
app.get('/api/profile', auth.authenticate(), (req, res) => {
  res.json({ sub: req.auth?.sub })
})
await feedCaughtUp(auth.verifier, process.env)
const server = app.listen(0, '127.0.0.1', () => announceReady(portOf(server.address())))
