import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { parseConfig } from '../../../server/src/config.js'
import type { Mail, Mailer } from '../../../server/src/mail/mail.js'
import { createPasswordHasher } from '../../../server/src/passwords/hasher.js'
import { createTessera, type Tessera } from '../../../server/src/tessera.js'
import { migratedPgliteHandle } from '../../../server/test/helpers/pglite-snapshot.js'
import type { RegisterResult, User } from '../../src/index.js'

/** A real Tessera server listening on 127.0.0.1, with a clock the test moves by hand. */
export interface RunningServer {
  tessera: Tessera
  baseUrl: string
  /** Requests the server received, by `METHOD /path`, counted as they arrive. */
  hits: Map<string, number>
  hitsOf(route: string): number
  /** The mail the server sent, in order (nothing leaves the process). */
  mails: Mail[]
  /** Moves the server's clock forward; its access tokens live 10 s. */
  advance(seconds: number): void
  close(): Promise<void>
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A mailer that keeps every mail instead of sending it. */
function capturingMailer(mails: Mail[]): Mailer {
  return {
    send: (mail) => {
      mails.push(mail)
    },
    idle: async () => undefined,
    close: async () => undefined,
  }
}

/** `env` adds to or overrides the test configuration, e.g. `TESSERA_REQUIRE_EMAIL_VERIFICATION`. */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  let now = Math.floor(Date.now() / 1000) * 1000
  const config = parseConfig({
    DATABASE_URL: 'memory://',
    TESSERA_SECRET: randomBytes(36).toString('base64url'),
    TESSERA_RATE_LIMIT: 'off',
    TESSERA_PUBLIC_URL: baseUrl,
    TESSERA_ACCESS_TOKEN_TTL: '10',
    ...env,
  })
  const mails: Mail[] = []
  const database = await migratedPgliteHandle()
  const tessera = await createTessera(config, {
    logger: false,
    database,
    clock: { now: () => new Date(now) },
    // cheap hashing: these tests are about tokens, not password storage
    hasher: createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }),
    mailer: capturingMailer(mails),
  })
  const hits = new Map<string, number>()
  // counted on the raw HTTP server: a Fastify onRequest hook added to the built app does not see
  // requests that a route plugin's own onRequest hook (the Bearer check of /auth/me) rejects first
  tessera.app.server.on('request', (request: { method?: string; url?: string }) => {
    const route = `${request.method} ${request.url?.split('?')[0]}`
    hits.set(route, (hits.get(route) ?? 0) + 1)
  })
  await tessera.app.listen({ port, host: '127.0.0.1' })
  return {
    tessera,
    baseUrl,
    hits,
    hitsOf: (route) => hits.get(route) ?? 0,
    mails,
    advance(seconds) {
      now += seconds * 1000
    },
    async close() {
      await tessera.close()
      await database.close()
    },
  }
}

let counter = 0
export const uniqueEmail = (prefix = 'client'): string => `${prefix}-${process.pid}-${++counter}@example.com`

export const PASSWORD = 'correct horse battery staple'

/** The result of a `register()` that must have signed in (the server requires no verification). */
export async function expectSignedIn(registered: Promise<RegisterResult>): Promise<{ user: User }> {
  const result = await registered
  if (result.status !== 'signed-in') throw new Error(`registration opened no session: ${result.status}`)
  return result
}

/** A clock for the client, moved by hand like the server's. */
export function manualClock(start = Date.now()) {
  let now = start
  return {
    now: () => now,
    advance(seconds: number) {
      now += seconds * 1000
    },
  }
}
