/**
 * A real Tessera server (in memory) with a revocation feed worth following: it opens
 * BENCH_REVOKED_SESSIONS sessions (one user each) through its own stores and logs every one of
 * them out through the logout flow, so `GET /auth/revocations` serves that many `session` events
 * in force. It also creates a service client with `revocations:read` and mints the benchmark's
 * access tokens, for live sessions, as servers/issuer.ts does.
 *
 * Users and sessions are written straight to the stores (as probes/seed-sessions.ts does): a
 * login per session would spend minutes in argon2, and the feed only sees the logouts.
 *
 * env: PORT, TESSERA_PUBLIC_URL, TESSERA_* (from the harness), BENCH_TOKEN_COUNT,
 *      BENCH_REVOKED_SESSIONS, BENCH_ISSUER_FILE (written: {@link IssuedForBench})
 */
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { parseConfig } from '../../packages/server/src/config.js'
import { accessTokenFor, openSession } from '../../packages/server/src/flows/issued-tokens.js'
import { logout } from '../../packages/server/src/flows/logout.js'
import { createServiceClient } from '../../packages/server/src/flows/service-clients.js'
import { signedInWith } from '../../packages/server/src/flows/sign-in-methods.js'
import { createTessera } from '../../packages/server/src/tessera.js'
import { issueAccessToken } from '../../packages/server/src/tokens/access-token.js'
import { announceReady, portOf } from './ready.js'

/** What the harness reads from BENCH_ISSUER_FILE. */
export interface IssuedForBench {
  /** RS256 access tokens of sessions that were never revoked. */
  tokens: string[]
  /** Access tokens of sessions logged out (one per batch: the harness checks the feed refuses them). */
  revokedTokens: string[]
  revokedSessions: number
  clientId: string
  clientSecret: string
  /** Seconds spent opening sessions, logging them out and minting `tokens`: where start-up goes. */
  seconds: { open: number; logout: number; mint: number }
}

const count = Number(process.env.BENCH_TOKEN_COUNT ?? 10_000)
const revokedCount = Number(process.env.BENCH_REVOKED_SESSIONS ?? 5000)
const file = process.env.BENCH_ISSUER_FILE
if (!file) throw new Error('BENCH_ISSUER_FILE is required')

const config = parseConfig({ ...process.env, DATABASE_URL: 'memory://' })
const tessera = await createTessera(config, { logger: false })
const { deps } = tessera

// in transactions of BATCH: one commit per session took over a minute for 5,000 on a busy machine
const BATCH = 250
const seconds = { open: 0, logout: 0, mint: 0 }
const since = (started: number) => (performance.now() - started) / 1000
const revokedTokens: string[] = []
for (let first = 0; first < revokedCount; first += BATCH) {
  const last = Math.min(revokedCount, first + BATCH)
  let started = performance.now()
  const opened = await deps.stores.transaction(async (tx) => {
    const sessions = []
    for (let i = first; i < last; i++) {
      const email = `revoked-${i}@example.com`
      const user = await tx.users.create({
        id: randomUUID(),
        email,
        emailNormalized: email,
        name: null,
        // never logs in: logout does not look at the password
        passwordHash: 'bench-no-login',
        roles: ['user'],
        createdAt: deps.clock.now(),
      })
      if (user === 'email_taken') throw new Error(`${email} is taken`)
      const auth = signedInWith(['pwd'], deps.clock.now())
      const session = await openSession(tx, deps, user, { userAgent: 'tessera-bench', ip: '127.0.0.1' }, auth)
      sessions.push({ user, auth, ...session })
    }
    return sessions
  })
  seconds.open += since(started)
  // one in each batch keeps an access token from before its logout, for the harness's check
  const [kept] = opened
  if (kept) revokedTokens.push((await accessTokenFor(deps, kept.user, kept.sessionId, kept.auth)).accessToken)
  started = performance.now()
  // the logout flow itself (refresh token to session, revoke, `session` event), a batch a commit
  await deps.stores.transaction(async (tx) => {
    for (const { refreshToken } of opened) await logout({ ...deps, stores: tx }, refreshToken)
  })
  seconds.logout += since(started)
}

const { client, secret } = await createServiceClient(deps, {
  name: 'bench resource server',
  scope: 'revocations:read',
})

const mintStarted = performance.now()
const tokens: string[] = []
for (let k = 0; k < count; k++) {
  tokens.push(
    await issueAccessToken(deps, {
      userId: randomUUID(),
      sessionId: randomUUID(),
      roles: ['user'],
      email: `bench-${k}@example.com`,
      emailVerified: true,
      auth: signedInWith(['pwd'], deps.clock.now()),
    }),
  )
}
seconds.mint = since(mintStarted)
const issued: IssuedForBench = {
  tokens,
  revokedTokens,
  revokedSessions: revokedCount,
  clientId: client.id,
  clientSecret: secret,
  seconds,
}
await writeFile(file, JSON.stringify(issued))

await tessera.app.listen({ host: '127.0.0.1', port: config.port })
announceReady(portOf(tessera.app.server.address()))
process.on('SIGTERM', () => {
  tessera.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
