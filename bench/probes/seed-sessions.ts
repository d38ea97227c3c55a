/**
 * Opens BENCH_SESSIONS sessions (one user each) through the server's own stores and openSession,
 * as a login would minus argon2, and hands their refresh tokens to the harness. Runs before the
 * server starts: an embedded database belongs to one process at a time.
 *
 * env: DATABASE_URL or TESSERA_DATA_DIR, TESSERA_SECRET, BENCH_SESSIONS
 */
import { randomUUID } from 'node:crypto'
import { fromServerDist } from '../lib/server-dist.js'

// the built server (see server-dist.ts): a new PGlite data dir is unpacked from its template
const [
  { systemClock },
  { parseConfig },
  { openSession },
  { signedInWith },
  { createStores },
  { openTesseraDatabase },
] = await Promise.all([
  fromServerDist<typeof import('../../packages/server/src/clock.js')>('clock.js'),
  fromServerDist<typeof import('../../packages/server/src/config.js')>('config.js'),
  fromServerDist<typeof import('../../packages/server/src/flows/issued-tokens.js')>('flows/issued-tokens.js'),
  fromServerDist<typeof import('../../packages/server/src/flows/sign-in-methods.js')>(
    'flows/sign-in-methods.js',
  ),
  fromServerDist<typeof import('../../packages/server/src/store/stores.js')>('store/stores.js'),
  fromServerDist<typeof import('../../packages/server/src/tessera.js')>('tessera.js'),
])

const count = Number(process.env.BENCH_SESSIONS ?? 128)
const config = parseConfig(process.env)
const { database, lock } = await openTesseraDatabase(config, {
  migrate: true,
  command: 'bench-seed',
  logger: false,
})
try {
  const stores = createStores(database.db, { accessTokenTtl: config.accessTokenTtl })
  const tokens: string[] = []
  const now = systemClock.now()
  for (let i = 0; i < count; i++) {
    const opened = await stores.transaction(async (tx) => {
      const email = `refresh-${i}-${randomUUID()}@example.com`
      const user = await tx.users.create({
        id: randomUUID(),
        email,
        emailNormalized: email,
        name: null,
        // never logs in: refresh does not look at the password
        passwordHash: 'bench-no-login',
        roles: ['user'],
        createdAt: now,
      })
      if (user === 'email_taken') throw new Error(`${email} is taken`)
      return openSession(
        tx,
        { clock: systemClock, config },
        user,
        { userAgent: 'tessera-bench', ip: '127.0.0.1' },
        signedInWith(['pwd'], now),
      )
    })
    tokens.push(opened.refreshToken)
  }
  process.send?.({ type: 'seeded', tokens })
} finally {
  await database.close()
  await lock?.release()
}
process.disconnect?.()
