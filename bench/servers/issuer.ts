/**
 * A real Tessera server (in memory) that mints the benchmark's access tokens and serves its JWKS
 * and discovery document to the resource servers under test.
 *
 * 10,000 logins would spend minutes in argon2, so the tokens are signed directly with the
 * server's active key through its own issueAccessToken, for sessions that exist only in the
 * tokens: resource servers verify offline and never ask about sessions.
 *
 * env: PORT, TESSERA_PUBLIC_URL, TESSERA_* (from the harness), BENCH_TOKEN_COUNT,
 *      BENCH_TOKENS_FILE (written: { rs256: string[], hs256: string[] }), BENCH_HS256_SECRET
 */
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { decodeJwt } from 'jose'
import jwt from 'jsonwebtoken'
import { fromServerDist } from '../lib/server-dist.js'
import { announceReady, portOf } from './ready.js'

// the built server (see server-dist.ts): its in-memory database loads the migrated template
const [{ parseConfig }, { signedInWith }, { createTessera }, { issueAccessToken }] = await Promise.all([
  fromServerDist<typeof import('../../packages/server/src/config.js')>('config.js'),
  fromServerDist<typeof import('../../packages/server/src/flows/sign-in-methods.js')>(
    'flows/sign-in-methods.js',
  ),
  fromServerDist<typeof import('../../packages/server/src/tessera.js')>('tessera.js'),
  fromServerDist<typeof import('../../packages/server/src/tokens/access-token.js')>('tokens/access-token.js'),
])

const count = Number(process.env.BENCH_TOKEN_COUNT ?? 10_000)
const file = process.env.BENCH_TOKENS_FILE
const hs256Secret = process.env.BENCH_HS256_SECRET
if (!file || !hs256Secret) throw new Error('BENCH_TOKENS_FILE and BENCH_HS256_SECRET are required')

const config = parseConfig({ ...process.env, DATABASE_URL: 'memory://' })
const tessera = await createTessera(config, { logger: false })

// fast-jwt signs on this thread (about 0.28 ms per RS256 token, under 3 s for 10,000); the server
// listens only once every token is written, so nothing waits on its event loop meanwhile
const rs256: string[] = []
for (let k = 0; k < count; k++) {
  rs256.push(
    await issueAccessToken(tessera.deps, {
      userId: randomUUID(),
      sessionId: randomUUID(),
      roles: ['user'],
      email: `bench-${k}@example.com`,
      emailVerified: true,
      auth: signedInWith(['pwd'], tessera.deps.clock.now()),
    }),
  )
}
// the tutorial stack's tokens: the same claims, HS256 under a string secret, signed as a tutorial would
const hs256 = rs256.map((token) => jwt.sign(decodeJwt(token), hs256Secret, { algorithm: 'HS256' }))
await writeFile(file, JSON.stringify({ rs256, hs256 }))

await tessera.app.listen({ host: '127.0.0.1', port: config.port })
announceReady(portOf(tessera.app.server.address()))
process.on('SIGTERM', () => {
  tessera.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
