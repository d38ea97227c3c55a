import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest } from '../helpers/raw-http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

// Real sockets: what these tests check happens in Node's HTTP parser, before Fastify (and inject).
// Node enforces these timeouts on its own clock, which no test clock reaches, so they take real
// time: the least the configuration accepts (one second each), found by Node's check of open
// connections, which the server runs every second (src/http/app.ts).
const TIMEOUT_MS = 1000
const CHECK_INTERVAL_MS = 1000
/** The client's pace: a write this often, so the connection never idles. */
const GAP_MS = 100
let server: TestServer
let port: number
beforeAll(async () => {
  server = await startTestServer({ TESSERA_REQUEST_TIMEOUT: '1s', TESSERA_HEADERS_TIMEOUT: '1s' })
  await server.app.listen({ port: 0, host: '127.0.0.1' })
  const address = server.app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  port = address.port
})
afterAll(() => server.close())

const statusLine = (response: string) => response.split('\r\n', 1)[0]
const bodyOf = (response: string) => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))
const headerOf = (response: string, name: string) =>
  new RegExp(`^${name}: (.*)$`, 'im').exec(response.slice(0, response.indexOf('\r\n\r\n')))?.[1]

function expectEarlyProblem(response: string, status: string, code: string) {
  expect(statusLine(response)).toBe(`HTTP/1.1 ${status}`)
  expect(headerOf(response, 'content-type')).toMatch(/^application\/problem\+json/)
  expect(headerOf(response, 'content-security-policy')).toContain("default-src 'none'")
  expect(headerOf(response, 'x-frame-options')).toBe('DENY')
  expect(bodyOf(response)).toMatchObject({ type: 'about:blank', code })
}

describe('slow clients', () => {
  it('cuts off a body sent a byte at a time: 408 REQUEST_TIMEOUT once the request timeout passes', async () => {
    const started = Date.now()
    const head =
      'POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{'
    // a byte every GAP_MS: the connection never idles, the request never completes
    const response = await rawRequest(port, [head, ...Array.from({ length: 60 }, () => ' ')], GAP_MS)
    const elapsed = Date.now() - started
    expectEarlyProblem(response, '408 Request Timeout', 'REQUEST_TIMEOUT')
    // the timeout, found by a check that runs every second: not before it, and not long after
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 100)
    expect(elapsed).toBeLessThan(TIMEOUT_MS + CHECK_INTERVAL_MS + 4000)
  })

  it('cuts off headers that never end: 408 REQUEST_TIMEOUT once the headers timeout passes', async () => {
    const started = Date.now()
    const response = await rawRequest(
      port,
      ['GET /healthz HTTP/1.1\r\n', ...Array.from({ length: 50 }, (_, i) => `X-Slow-${i}: 1\r\n`)],
      GAP_MS,
    )
    expectEarlyProblem(response, '408 Request Timeout', 'REQUEST_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + CHECK_INTERVAL_MS + 3000)
  })
})

describe('requests the HTTP parser refuses', () => {
  it('answers headers over the size limit 431 HEADERS_TOO_LARGE as problem+json', async () => {
    const response = await rawRequest(
      port,
      `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    )
    expectEarlyProblem(response, '431 Request Header Fields Too Large', 'HEADERS_TOO_LARGE')
  })

  it('answers both Content-Length and Transfer-Encoding (smuggling framing) 400 MALFORMED_REQUEST', async () => {
    const response = await rawRequest(
      port,
      'POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    )
    expectEarlyProblem(response, '400 Bad Request', 'MALFORMED_REQUEST')
  })

  it('answers a request line that is not HTTP 400 MALFORMED_REQUEST', async () => {
    const response = await rawRequest(port, 'HELLO THERE\r\n\r\n')
    expectEarlyProblem(response, '400 Bad Request', 'MALFORMED_REQUEST')
  })
})
