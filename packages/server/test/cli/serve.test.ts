import { stat } from 'node:fs/promises'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  cleanupProcesses,
  login,
  preparedDataDir,
  register,
  requestJson,
  type ServerProcess,
  startServerProcess,
  type TokenResponse,
  waitFor,
} from '../helpers/process.js'

const PASSWORD = 'correct horse battery staple'

const kidsOf = async (base: string): Promise<string[]> =>
  (await requestJson<{ keys: { kid: string }[] }>(`${base}/.well-known/jwks.json`)).body.keys.map(
    (key) => key.kid,
  )

/** pino's JSON lines on a process's stdout. */
const logLines = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

describe('tessera serve on an embedded data dir', () => {
  // one server for the three: started once, restarted by the last
  let dir: string
  let first: ServerProcess
  beforeAll(async () => {
    dir = await preparedDataDir()
    first = await startServerProcess({ TESSERA_DATA_DIR: dir })
  })
  afterAll(cleanupProcesses)

  it('prints the URLs of the API, the docs and the JWKS', async () => {
    const base = `http://localhost:${first.port}`
    expect(first.stdout()).toMatch(new RegExp(`API\\s+${base}/auth\\n`))
    expect(first.stdout()).toMatch(new RegExp(`Docs\\s+${base}/docs\\n`))
    expect(first.stdout()).toMatch(new RegExp(`JWKS\\s+${base}/\\.well-known/jwks\\.json\\n`))
    // and they answer
    expect((await fetch(`${first.url}/docs`)).status).toBe(200)
    expect((await kidsOf(first.url)).length).toBeGreaterThan(0)
  })

  it('generates a development secret (mode 0600) into the data dir and warns about it', async () => {
    expect((await stat(join(dir, 'secret'))).mode & 0o777).toBe(0o600)
    const warning = logLines(first.stdout()).find((line) =>
      String(line.msg).includes('TESSERA_SECRET is not set'),
    )
    expect(warning).toMatchObject({ level: 40, created: true, path: join(dir, 'secret') })
  })

  it('keeps users, sessions and signing keys across a SIGTERM and a restart', async () => {
    const email = 'restart@example.com'
    const registered = await register(first.url, email, PASSWORD)
    expect(registered.status).toBe(201)
    const kidsBefore = await kidsOf(first.url)

    const stopped = await first.stop('SIGTERM', 10_000)
    expect(stopped).toMatchObject({ code: 0, signal: null })
    expect(stopped.ms).toBeLessThan(5000)

    // the same port, so the same issuer (TESSERA_PUBLIC_URL defaults to http://localhost:$PORT)
    const second = await startServerProcess({ TESSERA_DATA_DIR: dir, PORT: String(first.port) })
    const me = await requestJson<{ user: { email: string } }>(`${second.url}/auth/me`, {
      token: registered.body.accessToken,
    })
    expect(me.status).toBe(200)
    expect(me.body.user.email).toBe(email)

    const refreshed = await requestJson<TokenResponse>(`${second.url}/auth/refresh`, {
      body: { refreshToken: registered.body.refreshToken, tokenDelivery: 'body' },
    })
    expect(refreshed.status).toBe(200)
    expect(refreshed.body.refreshToken).toEqual(expect.any(String))
    expect(refreshed.body.refreshToken).not.toBe(registered.body.refreshToken)

    const loggedIn = await login(second.url, email, PASSWORD)
    expect(loggedIn.status).toBe(200)
    expect(await kidsOf(second.url)).toEqual(kidsBefore)
    expect(decodeProtectedHeader(loggedIn.body.accessToken).kid).toBe(
      decodeProtectedHeader(registered.body.accessToken).kid,
    )
    // the development secret was reused, not regenerated
    const warning = logLines(second.stdout()).find((line) =>
      String(line.msg).includes('TESSERA_SECRET is not set'),
    )
    expect(warning).toMatchObject({ created: false })
  })
})

interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

const loginBody = (email: string) => JSON.stringify({ email, password: PASSWORD, tokenDelivery: 'body' })

/** A login whose headers and first half of the body are sent now; `finish()` sends the rest. */
function startSlowLogin(base: string, email: string): { finish(): void; response: Promise<RawResponse> } {
  const body = loginBody(email)
  const half = Math.floor(body.length / 2)
  let finish = () => {}
  const response = new Promise<RawResponse>((resolve, reject) => {
    const req = httpRequest(`${base}/auth/login`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    })
    req.on('error', reject)
    req.on('response', (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      res.on('error', reject)
    })
    req.write(body.slice(0, half))
    finish = () => req.end(body.slice(half))
  })
  return { finish, response }
}

/** Waits until the server logged (LOG_LEVEL=info) that it has read the headers of a request to `url`. */
const waitForIncoming = (server: ServerProcess, url: string, count = 1) =>
  waitFor(
    () =>
      logLines(server.stdout()).filter(
        (line) => line.msg === 'incoming request' && (line.req as { url?: string } | undefined)?.url === url,
      ).length >= count || undefined,
    `the server to read the request to ${url}`,
    5000,
    20,
  )

/** Resolves once the server refuses new connections, i.e. it has begun to close. */
const waitUntilRefusing = (port: number) =>
  waitFor(
    () =>
      new Promise<true | undefined>((resolve) => {
        const socket = connect(port, '127.0.0.1')
        socket.once('connect', () => {
          socket.destroy()
          resolve(undefined)
        })
        socket.once('error', () => resolve(true))
      }),
    'the server to stop accepting connections',
    5000,
    20,
  )

/** A raw HTTP/1.1 exchange whose first bytes go out now, so the connection is not idle when the server closes. */
function rawRequestStarted(
  port: number,
): Promise<{ socket: Socket; send(rest: string): Promise<RawResponse> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('POST /auth/login HTTP/1.1\r\n')
      resolve({
        socket,
        send(rest) {
          return new Promise((done, fail) => {
            let text = ''
            socket.on('data', (chunk: Buffer) => {
              text += chunk.toString()
            })
            socket.on('error', fail)
            socket.on('close', () => {
              const [head = '', ...bodyParts] = text.split('\r\n\r\n')
              const [statusLine = '', ...headerLines] = head.split('\r\n')
              const headers: IncomingHttpHeaders = {}
              for (const line of headerLines) {
                const colon = line.indexOf(':')
                headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
              }
              done({ status: Number(statusLine.split(' ')[1]), headers, body: bodyParts.join('\r\n\r\n') })
            })
            socket.write(rest)
          })
        },
      })
    })
    socket.once('error', reject)
  })
}

describe('tessera serve on SIGTERM', () => {
  afterEach(cleanupProcesses)

  it('finishes a request in flight, then exits 0', async () => {
    const server = await startServerProcess({ TESSERA_DATA_DIR: await preparedDataDir(), LOG_LEVEL: 'info' })
    const email = 'drain@example.com'
    expect((await register(server.url, email, PASSWORD)).status).toBe(201)

    const slow = startSlowLogin(server.url, email)
    await waitForIncoming(server, '/auth/login')
    const signalled = Date.now()
    server.proc.kill('SIGTERM')
    await waitUntilRefusing(server.port)
    slow.finish()
    const response = await slow.response
    expect(response.status).toBe(200)
    expect(JSON.parse(response.body)).toMatchObject({ accessToken: expect.any(String) })
    expect(response.headers.connection).toBe('close')
    const exit = await server.waitForExit(5000)
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(Date.now() - signalled).toBeLessThan(5000)
  })

  it('cuts a client that stalls mid-request after the drain deadline, then exits 0', async () => {
    const server = await startServerProcess({
      TESSERA_DATA_DIR: await preparedDataDir(),
      LOG_LEVEL: 'info',
      TESSERA_SHUTDOWN_TIMEOUT: '1',
    })
    expect((await register(server.url, 'stall@example.com', PASSWORD)).status).toBe(201)
    // half a body, and never the rest
    const stalled = startSlowLogin(server.url, 'stall@example.com')
    const outcome = stalled.response.then(
      (response) => `answered ${response.status}`,
      (error: NodeJS.ErrnoException) => `cut (${error.code})`,
    )
    await waitForIncoming(server, '/auth/login')
    const signalled = Date.now()
    server.proc.kill('SIGTERM')
    // the deadline is TESSERA_SHUTDOWN_TIMEOUT (1 s here); Node alone would wait for its 5-minute requestTimeout
    expect(await server.waitForExit(9000)).toMatchObject({ code: 0, signal: null })
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(900)
    expect(await outcome).toMatch(/^cut/)
  })

  it('answers a request written just before the signal (200, or a clean 503) and exits 0', async () => {
    const server = await startServerProcess({ TESSERA_DATA_DIR: await preparedDataDir() })
    const email = 'race@example.com'
    expect((await register(server.url, email, PASSWORD)).status).toBe(201)
    const body = loginBody(email)
    const response = await new Promise<RawResponse>((resolve, reject) => {
      const req = httpRequest(`${server.url}/auth/login`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      })
      req.on('error', reject)
      req.on('finish', () => server.proc.kill('SIGTERM'))
      req.on('response', (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      })
      req.end(body)
    })
    expect([200, 503]).toContain(response.status)
    const exit = await server.waitForExit(5000)
    expect(exit).toMatchObject({ code: 0, signal: null })
  })

  describe('a request that arrives while the server drains', () => {
    let late: RawResponse
    let inFlight: RawResponse
    beforeAll(async () => {
      const server = await startServerProcess({
        TESSERA_DATA_DIR: await preparedDataDir(),
        LOG_LEVEL: 'info',
      })
      const email = 'late@example.com'
      expect((await register(server.url, email, PASSWORD)).status).toBe(201)
      // the late request's connection has sent its first bytes, so closing does not reap it as idle...
      const lateRequest = await rawRequestStarted(server.port)
      // ...and a request in flight keeps the server draining while the late one completes
      const slow = startSlowLogin(server.url, email)
      await waitForIncoming(server, '/auth/login')
      server.proc.kill('SIGTERM')
      await waitUntilRefusing(server.port)
      const body = loginBody(email)
      late = await lateRequest.send(
        `Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      )
      slow.finish()
      inFlight = await slow.response
      expect(await server.waitForExit(5000)).toMatchObject({ code: 0, signal: null })
    })

    it('gets 503 with Connection: close while the request in flight completes', () => {
      expect(inFlight.status).toBe(200)
      expect(late.status).toBe(503)
      expect(late.headers.connection).toBe('close')
    })

    it('gets problem+json SERVICE_UNAVAILABLE with Retry-After', () => {
      expect(late.status).toBe(503)
      expect(late.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(JSON.parse(late.body)).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' })
      expect(late.headers['retry-after']).toMatch(/^\d+$/)
    })
  })
})
