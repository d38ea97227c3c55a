import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import {
  createPasswordHasher,
  createTessera,
  migratedPgliteHandle,
  parseConfig,
  type Tessera,
} from './server.js'

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** The real time shifted by an offset a test moves, so the server can issue tokens "in the past". */
export interface OffsetClock {
  now(): Date
  shift(seconds: number): void
}

export function offsetClock(): OffsetClock {
  let offsetMs = 0
  return {
    now: () => new Date(Date.now() + offsetMs),
    shift(seconds) {
      offsetMs = seconds * 1000
    },
  }
}

export const PASSWORD = 'correct horse battery staple'

let counter = 0
export const uniqueEmail = (prefix = 'user'): string =>
  `${prefix}-${process.pid}-${Date.now()}-${++counter}@example.com`

export interface Issued {
  userId: string
  email: string
  accessToken: string
}

export interface RunningTessera {
  /** The issuer and base URL, `http://127.0.0.1:<port>`. */
  url: string
  tessera: Tessera
  /** TESSERA_SECRET, for rotateKey. */
  secret: string
  clock: OffsetClock
  /** Requests the server has answered on /.well-known/jwks.json so far. */
  jwksFetches(): number
  register(email?: string): Promise<Issued>
  login(email: string): Promise<Issued>
  close(): Promise<void>
}

async function tokenResponse(response: Response, email: string): Promise<Issued> {
  const text = await response.text()
  if (!response.ok) throw new Error(`Tessera answered ${response.status}: ${text}`)
  const body = JSON.parse(text) as { user: { id: string }; accessToken: string }
  return { userId: body.user.id, email, accessToken: body.accessToken }
}

/** A real Tessera server on an in-memory database, listening on 127.0.0.1 so its issuer is reachable. */
export async function startTessera(env: Record<string, string> = {}): Promise<RunningTessera> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const secret = randomBytes(36).toString('base64url')
  const clock = offsetClock()
  const config = parseConfig({
    DATABASE_URL: 'memory://',
    TESSERA_SECRET: secret,
    TESSERA_RATE_LIMIT: 'off',
    TESSERA_PUBLIC_URL: url,
    // the tests reload the key ring themselves, right after a rotation
    TESSERA_KEY_REFRESH_INTERVAL: '1h',
    ...env,
  })
  const database = await migratedPgliteHandle()
  const tessera = await createTessera(config, {
    logger: false,
    clock,
    database,
    // cheap hashing: these tests are about tokens, not password storage
    hasher: createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }),
  })
  let jwksFetches = 0
  tessera.app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/.well-known/jwks.json')) jwksFetches++
  })
  await tessera.app.listen({ port, host: '127.0.0.1' })

  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  return {
    url,
    tessera,
    secret,
    clock,
    jwksFetches: () => jwksFetches,
    async register(email = uniqueEmail()) {
      return tokenResponse(
        await post('/auth/register', { email, password: PASSWORD, tokenDelivery: 'body' }),
        email,
      )
    },
    async login(email) {
      return tokenResponse(
        await post('/auth/login', { email, password: PASSWORD, tokenDelivery: 'body' }),
        email,
      )
    },
    async close() {
      await tessera.close()
      await database.close()
    },
  }
}
