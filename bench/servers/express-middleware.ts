/** Express + @tessera/middleware, used as its README shows; keys discovered from the issuer. */
import { createExpressAuth } from '@tessera/middleware/express'
import express from 'express'
import { announceReady, portOf } from './ready.js'

const issuer = process.env.BENCH_ISSUER
if (!issuer) throw new Error('BENCH_ISSUER is required')

const auth = createExpressAuth({ issuer, audience: 'tessera' })
const app = express()
app.get('/api/profile', auth.authenticate(), (req, res) => {
  res.json({ sub: req.auth?.sub })
})
const server = app.listen(0, '127.0.0.1', () => announceReady(portOf(server.address())))
