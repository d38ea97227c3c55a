/**
 * The whole flow a newcomer follows: a Tessera server and the example API as separate processes,
 * register, call the API, get 403 on the admin route, become admin with the `tessera users` CLI,
 * log in again, get 200. On PostgreSQL the CLI runs beside the running server; on the embedded
 * database (one process at a time) the server is stopped for it and started again on the same data.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { freshPostgresUrl } from '../packages/server/test/helpers/database.js'
import {
  childEnv,
  cleanupProcesses,
  freePort,
  login,
  preparedDataDir,
  register,
  requestJson,
  spawnCli,
  startServerProcess,
  waitFor,
} from '../packages/server/test/helpers/process.js'

const exampleServer = fileURLToPath(new URL('../examples/express-api/src/server.js', import.meta.url))
const PASSWORD = 'correct horse battery staple'
const SECRET = 'e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz'

const children: ReturnType<typeof spawn>[] = []
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGTERM')
  await cleanupProcesses()
})

async function startExampleApi(tesseraUrl: string): Promise<string> {
  const port = await freePort()
  const child = spawn(process.execPath, [exampleServer], {
    env: childEnv({ PORT: String(port), TESSERA_URL: tesseraUrl }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => {
    try {
      return (await fetch(`${url}/api/feed`)).ok ? true : undefined
    } catch {
      return undefined
    }
  }, 'the example API to answer')
  return url
}

const get = (url: string, token?: string, method = 'GET') => requestJson(url, { method, token })

async function database() {
  const postgres = await freshPostgresUrl()
  if (postgres)
    return { env: { DATABASE_URL: postgres.url, TESSERA_SECRET: SECRET }, beside: true, drop: postgres.drop }
  return { env: { TESSERA_DATA_DIR: await preparedDataDir() }, beside: false, drop: async () => {} }
}

describe('the example Express API with a Tessera server', () => {
  const drops: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const drop of drops) await drop()
  })

  it('protects profile, admin, user deletion and the feed; the CLI grants admin', async () => {
    const db = await database()
    drops.push(db.drop)
    const port = await freePort()
    // the issuer the example API pins, and finds the JWKS through
    const env = { ...db.env, PORT: String(port), TESSERA_PUBLIC_URL: `http://127.0.0.1:${port}` }
    let server = await startServerProcess(env)
    const api = await startExampleApi(server.url)
    const email = `e2e-${Date.now()}@example.com`

    const registered = await register(server.url, email, PASSWORD)
    expect(registered.status).toBe(201)
    const token = registered.body.accessToken

    const profile = await get(`${api}/api/profile`, token)
    expect(profile.status).toBe(200)
    expect(profile.body).toMatchObject({ email, roles: ['user'] })

    const anonymous = await get(`${api}/api/profile`)
    expect(anonymous.status).toBe(401)
    expect(anonymous.body).toMatchObject({ code: 'TOKEN_MISSING' })

    const forbidden = await get(`${api}/api/admin`, token)
    expect(forbidden.status).toBe(403)
    expect(forbidden.body).toMatchObject({ code: 'FORBIDDEN' })
    expect((await get(`${api}/api/users/42`, token, 'DELETE')).status).toBe(403)

    expect((await get(`${api}/api/feed`)).body).toMatchObject({ viewer: null })
    expect((await get(`${api}/api/feed`, token)).body).toMatchObject({ viewer: email })
    expect((await get(`${api}/api/feed`, 'not.a.token')).status).toBe(401)

    if (!db.beside) expect((await server.stop()).code).toBe(0)
    const granted = await spawnCli(['users', 'roles', '--email', email, '--add', 'admin'], env)
    expect(granted.stderr).toBe('')
    expect(granted.code).toBe(0)
    if (!db.beside) server = await startServerProcess(env)

    // the old token still carries the old roles; a new login carries admin
    expect((await get(`${api}/api/admin`, token)).status).toBe(403)
    const again = await login(server.url, email, PASSWORD)
    expect(again.status).toBe(200)
    const admin = await get(`${api}/api/admin`, again.body.accessToken)
    expect(admin.status).toBe(200)
    expect(admin.body).toMatchObject({ message: expect.stringContaining(email) })
    const deleted = await get(`${api}/api/users/42`, again.body.accessToken, 'DELETE')
    expect(deleted.status).toBe(200)
    expect(deleted.body).toMatchObject({ deleted: '42' })
  })
})
