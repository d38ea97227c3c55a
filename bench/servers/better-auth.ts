/**
 * The peer: better-auth with email and password on PostgreSQL (its tables created by
 * `getMigrations().runMigrations()`), served by Node's http module through `toNodeHandler`.
 * Its password hash is scrypt (N=16384, r=16, p=1, node:crypto on libuv's pool), not argon2id.
 *
 * env: PORT, DATABASE_URL, BENCH_USERS, BENCH_PASSWORD, BENCH_SECRET
 */
import { createServer } from 'node:http'
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { toNodeHandler } from 'better-auth/node'
import pg from 'pg'
import { announceReady, portOf } from './ready.js'

const port = Number(process.env.PORT)
const databaseUrl = process.env.DATABASE_URL
const secret = process.env.BENCH_SECRET
if (!port || !databaseUrl || !secret) throw new Error('PORT, DATABASE_URL and BENCH_SECRET are required')
const count = Number(process.env.BENCH_USERS ?? 8)
const password = process.env.BENCH_PASSWORD ?? 'correct horse battery staple'

const options = {
  baseURL: `http://127.0.0.1:${port}`,
  secret,
  // the pool size of Tessera's PostgreSQL pool
  database: new pg.Pool({ connectionString: databaseUrl, max: 10 }),
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { disabled: true },
}
const auth = betterAuth(options)
await (await getMigrations(options)).runMigrations()
for (let i = 0; i < count; i++) {
  await auth.api.signUpEmail({ body: { email: `bench-${i}@example.com`, password, name: `Bench ${i}` } })
}

const server = createServer(toNodeHandler(auth))
server.listen(port, '127.0.0.1', () => announceReady(portOf(server.address())))
