/** The baseline: the same tiny JSON route as every protected server, with no authentication. */
import Fastify from 'fastify'
import { announceReady, portOf } from './ready.js'

// as long as the `sub` of a Tessera token, so every server answers the same number of bytes
const ANONYMOUS = '00000000-0000-4000-8000-000000000000'

const app = Fastify()
app.get('/api/profile', async () => ({ sub: ANONYMOUS }))
await app.listen({ host: '127.0.0.1', port: 0 })
announceReady(portOf(app.server.address()))
