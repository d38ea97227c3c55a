/**
 * Scenario 4, the peer: better-auth (email and password, same PostgreSQL) next to Tessera.
 * Sign-ins at 8 connections against Tessera's logins at 8 connections (no /healthz beside them),
 * and better-auth's session check (GET /api/auth/get-session, a database read per request) against
 * Tessera's own session check (GET /auth/me: token plus live-session lookup) and, when scenario 1
 * ran, the middleware's offline check. better-auth hashes with scrypt, Tessera with argon2id.
 */
import { randomBytes } from 'node:crypto'
import { type Child, startServerScript } from '../lib/children.js'
import { type BenchContext, eachRun } from '../lib/context.js'
import { type Figure, figure } from '../lib/figures.js'
import { describeLoads, expectOk, type LoadResult, load } from '../lib/load.js'
import { freePort } from '../lib/ports.js'
import { createDatabase } from '../lib/postgres.js'
import { BENCH_PASSWORD, registerUsers, startTesseraServe } from '../lib/tessera-serve.js'

export async function peer(context: BenchContext): Promise<Figure[]> {
  const params = context.params.peer
  const users = context.params.login.users
  const children: Child[] = []
  const tesseraDb = await createDatabase('peer_tessera')
  const betterAuthDb = await createDatabase('peer_better_auth')
  try {
    context.log('starting tessera serve and better-auth on PostgreSQL')
    const betterAuthPort = await freePort()
    const [tessera, betterAuth] = await Promise.all([
      startTesseraServe({ DATABASE_URL: tesseraDb.url }),
      startServerScript(
        'servers/better-auth.ts',
        {
          env: {
            PORT: String(betterAuthPort),
            DATABASE_URL: betterAuthDb.url,
            BENCH_USERS: String(users),
            BENCH_PASSWORD,
            BENCH_SECRET: randomBytes(32).toString('base64url'),
          },
        },
        120_000,
      ),
    ])
    children.push(tessera.child, betterAuth.child)
    const emails = await registerUsers(tessera.url, users)

    const json = { 'content-type': 'application/json' }
    const tesseraLogin = await expectOk(`${tessera.url}/auth/login`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: emails[0], password: BENCH_PASSWORD, tokenDelivery: 'body' }),
    })
    const { accessToken } = (await tesseraLogin.json()) as { accessToken: string }
    const signIn = await expectOk(`${betterAuth.url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { ...json, origin: betterAuth.url },
      body: JSON.stringify({ email: 'bench-0@example.com', password: BENCH_PASSWORD }),
    })
    const cookie = signIn.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .join('; ')
    await expectOk(`${betterAuth.url}/api/auth/get-session`, { headers: { cookie } }).then(async (r) => {
      if ((await r.json()) === null) throw new Error('better-auth get-session answered null: no session')
    })
    await expectOk(`${tessera.url}/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } })

    const signIns = (url: string, path: string, body: (i: number) => string) => {
      let next = 0
      return load({
        url: `${url}${path}`,
        connections: params.loginConnections,
        duration: params.loginDuration,
        method: 'POST',
        headers: { ...json, origin: url },
        setupRequest: (request) => ({ ...request, body: body(next++) }),
      })
    }
    const results = new Map<string, LoadResult[]>()
    const add = (key: string, result: LoadResult) => results.set(key, [...(results.get(key) ?? []), result])
    await eachRun(context, async () => {
      context.log('  tessera: logins')
      add(
        'tessera.login',
        await signIns(tessera.url, '/auth/login', (i) =>
          JSON.stringify({
            email: emails[i % emails.length],
            password: BENCH_PASSWORD,
            tokenDelivery: 'body',
          }),
        ),
      )
      context.log('  better-auth: sign-ins')
      add(
        'better-auth.login',
        await signIns(betterAuth.url, '/api/auth/sign-in/email', (i) =>
          JSON.stringify({ email: `bench-${i % users}@example.com`, password: BENCH_PASSWORD }),
        ),
      )
      context.log('  tessera: GET /auth/me')
      add(
        'tessera.session',
        await load({
          url: `${tessera.url}/auth/me`,
          connections: params.sessionConnections,
          duration: params.duration,
          headers: { authorization: `Bearer ${accessToken}` },
        }),
      )
      context.log('  better-auth: GET /api/auth/get-session')
      add(
        'better-auth.session',
        await load({
          url: `${betterAuth.url}/api/auth/get-session`,
          connections: params.sessionConnections,
          duration: params.duration,
          headers: { cookie },
        }),
      )
    })

    const perSecond = (key: string) => (results.get(key) ?? []).map((r) => r.okPerSecond)
    const detail = (key: string) => describeLoads(results.get(key) ?? [])
    const figures = [
      figure({
        id: 'peer.better-auth.sign-in',
        scenario: 'peer',
        subject: 'better-auth (scrypt, PostgreSQL)',
        metric: `sign-ins/s, ${params.loginConnections} conn`,
        unit: 'logins/s',
        runs: perSecond('better-auth.login'),
        detail: detail('better-auth.login'),
        baseline: {
          label: `tessera serve logins/s (argon2id), ${params.loginConnections} conn`,
          unit: 'logins/s',
          runs: perSecond('tessera.login'),
        },
        notes: [`tessera ${detail('tessera.login')}`],
      }),
      figure({
        id: 'peer.better-auth.session',
        scenario: 'peer',
        subject: 'better-auth (scrypt, PostgreSQL)',
        metric: `get-session/s, ${params.sessionConnections} conn`,
        unit: 'req/s',
        runs: perSecond('better-auth.session'),
        detail: detail('better-auth.session'),
        baseline: {
          label: `tessera serve GET /auth/me, ${params.sessionConnections} conn`,
          unit: 'req/s',
          runs: perSecond('tessera.session'),
        },
        notes: [`tessera /auth/me ${detail('tessera.session')}`],
      }),
    ]
    const middleware = context.figures.get('protected.one-token.fastify-middleware')
    if (middleware) {
      figures.push(
        figure({
          id: 'peer.better-auth.session-vs-middleware',
          scenario: 'peer',
          subject: 'better-auth (scrypt, PostgreSQL)',
          metric: `get-session/s, ${params.sessionConnections} conn, vs offline check`,
          unit: 'req/s',
          runs: perSecond('better-auth.session'),
          detail: detail('better-auth.session'),
          baseline: {
            label: 'Fastify + @tessera/middleware, one token (scenario 1)',
            unit: 'req/s',
            runs: middleware.runs,
          },
        }),
      )
    }
    return figures
  } finally {
    await Promise.all(children.map((child) => child.stop()))
    await tesseraDb.drop()
    await betterAuthDb.drop()
  }
}
