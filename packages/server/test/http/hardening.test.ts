import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EMAIL_PATTERN } from '../../src/email-address.js'
import { createUser } from '../../src/flows/manage-users.js'
import { rawRequest } from '../helpers/raw-http.js'
import {
  bearer,
  json,
  PASSWORD,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'

// Reproductions of what an outside attack run found (issue 14), each refused now.

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_REFRESH_REUSE_GRACE: '10s' })
})
afterAll(() => server.close())

const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url, payload: payload as object, headers })

type Problem = { code: string; status: number; errors?: { field: string; message: string }[] }

function expectProblem(response: LightMyRequestResponse, status: number, code: string): Problem {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json\b/)
  const body = json<Problem>(response)
  expect(body.code).toBe(code)
  expect(body.status).toBe(status)
  return body
}

describe('text that cannot be stored', () => {
  it.each([
    ['a U+0000 in the name', { name: 'a\u0000b' }, 'name'],
    ['a U+0000 in the password', { password: `${PASSWORD}\u0000` }, 'password'],
    ['a lone high surrogate in the name', { name: 'x\ud800y' }, 'name'],
    ['a lone low surrogate in the name', { name: 'x\udc00' }, 'name'],
  ])('refuses %s with 400 VALIDATION_FAILED, and creates nothing', async (_what, change, field) => {
    const email = uniqueEmail('text')
    const body = expectProblem(
      await post('/auth/register', { email, password: PASSWORD, ...change }),
      400,
      'VALIDATION_FAILED',
    )
    expect(body.errors?.map((error) => error.field)).toContain(field)
    expect(await server.deps.stores.users.findByEmail(email.toLowerCase())).toBeUndefined()
  })

  it('refuses an email with a lone surrogate at register, and never signs in with one', async () => {
    const domain = `${randomUUID().slice(0, 8)}.example.com`
    const register = await post('/auth/register', { email: `lone\ud800x@${domain}`, password: PASSWORD })
    expect(expectProblem(register, 400, 'VALIDATION_FAILED').errors?.[0]?.field).toBe('email')
    // the U+FFFD it would have been stored as is a real character: that account can exist…
    await registerUser(server.app, `lone\ufffdx@${domain}`)
    // …and a lone surrogate must not reach it
    const login = await post('/auth/login', { email: `lone\udbffx@${domain}`, password: PASSWORD })
    expectProblem(login, 400, 'VALIDATION_FAILED')
  })

  it('refuses a U+0000 anywhere in a body, a property name included', async () => {
    expectProblem(
      await post('/auth/login', { email: 'a\u0000@example.com', password: PASSWORD }),
      400,
      'VALIDATION_FAILED',
    )
    expectProblem(
      await post('/auth/forgot-password', { 'em\u0000ail': 'a@example.com' }),
      400,
      'VALIDATION_FAILED',
    )
  })

  it('refuses the same text when an operator creates the user (tessera users create)', async () => {
    const email = uniqueEmail('cli-text')
    const create = (name: string) =>
      createUser(server.deps, { email, password: PASSWORD, name, roles: ['user'] })
    await expect(create('a\u0000b')).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ field: 'name', message: 'must not contain U+0000' }],
    })
    await expect(create('x\ud800')).rejects.toMatchObject({
      errors: [{ field: 'name', message: 'must be valid Unicode' }],
    })
    expect(await server.deps.stores.users.findByEmail(email.toLowerCase())).toBeUndefined()
  })

  it('stores the name NFC-normalised', async () => {
    const response = await post('/auth/register', {
      email: uniqueEmail('nfc'),
      password: PASSWORD,
      name: 'Jose\u0301',
    })
    expect(response.statusCode).toBe(201)
    expect(json<{ user: { name: string } }>(response).user.name).toBe('Jos\u00e9')
  })
})

describe('one account per mailbox, however it is spelled', () => {
  const local = () => `ada${randomUUID().slice(0, 8)}`

  it.each([
    ['a fullwidth domain', (name: string) => `${name}@ｅｘａｍｐｌｅ.com`],
    ['fullwidth local letters', (name: string) => `${name.replace('ada', 'ａｄａ')}@example.com`],
    ['a mathematical bold letter', (name: string) => `${name.replace('a', '𝐚')}@example.com`],
    ['upper case everywhere', (name: string) => `${name.toUpperCase()}@EXAMPLE.COM`],
    ['a domain in its A-label form', (name: string) => `${name}@xn--bcher-kva.example`],
  ])('refuses a second account under %s (409 EMAIL_TAKEN)', async (what, spell) => {
    const name = local()
    const original = what.includes('A-label') ? `${name}@bücher.example` : `${name}@Example.com`
    await registerUser(server.app, original)
    const again = await post('/auth/register', { email: spell(name), password: PASSWORD })
    expectProblem(again, 409, 'EMAIL_TAKEN')
    // and the other spelling signs in to the one account, which keeps the address as typed
    const login = await post('/auth/login', { email: spell(name), password: PASSWORD, tokenDelivery: 'body' })
    expect(login.statusCode, login.body).toBe(200)
    expect(json<{ user: { email: string } }>(login).user.email).toBe(original)
  })

  it('mails a reset link for another spelling of the address', async () => {
    const name = local()
    await registerUser(server.app, `${name}@example.com`)
    const mailed = await post('/auth/forgot-password', { email: `${name.toUpperCase()}@ｅｘａｍｐｌｅ.com` })
    expect(mailed.statusCode).toBe(202)
  })

  it('refuses what the OpenAPI document refuses, and takes what it takes', async () => {
    const doc = json<{
      paths: Record<
        string,
        {
          post: {
            requestBody: {
              content: Record<string, { schema: { properties: { email: { pattern: string } } } }>
            }
          }
        }
      >
    }>(await server.app.inject({ url: '/openapi.json' }))
    const pattern =
      doc.paths['/auth/register']?.post.requestBody.content['application/json']?.schema.properties.email
        .pattern
    expect(pattern).toBe(EMAIL_PATTERN)
    const rule = new RegExp(pattern ?? '', 'u')
    for (const email of ['0@com', 'a@b.c', 'a..b@example.com', '.a@example.com', 'a b@example.com']) {
      expect(rule.test(email), email).toBe(false)
      expectProblem(await post('/auth/register', { email, password: PASSWORD }), 400, 'VALIDATION_FAILED')
    }
    expect(rule.test('josé@bücher.example')).toBe(true)
  })
})

describe('tokens that never came from us', () => {
  async function signed(claims: Record<string, unknown>): Promise<string> {
    const { kid, alg, key } = server.deps.keyRing.signingKey()
    const iat = Math.floor(server.clock.now().getTime() / 1000)
    return new SignJWT({
      iss: server.config.publicUrl,
      aud: server.config.audience,
      jti: randomUUID(),
      iat,
      exp: iat + 900,
      roles: ['user'],
      email: 'a@example.com',
      email_verified: false,
      ...claims,
    })
      .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
      .sign(key)
  }
  const me = (token: string) => server.app.inject({ url: '/auth/me', headers: bearer(token) })

  it.each([
    ['a sid that is not a UUID', { sub: randomUUID(), sid: 'not-a-uuid' }],
    ['a sub that is not a UUID', { sub: "1' or '1'='1", sid: randomUUID() }],
    ['a numeric sub', { sub: 42, sid: randomUUID() }],
  ])('answers a validly signed token with %s 401 TOKEN_INVALID, not 500', async (_what, claims) => {
    expectProblem(await me(await signed(claims)), 401, 'TOKEN_INVALID')
  })

  it('refuses a token issued in the future, and takes one within the 5 s clock skew', async () => {
    const user = await registerUser(server.app)
    const { sid } = JSON.parse(Buffer.from(user.accessToken.split('.')[1] ?? '', 'base64url').toString())
    const now = Math.floor(server.clock.now().getTime() / 1000)
    expectProblem(await me(await signed({ sub: user.userId, sid, iat: now + 3600 })), 401, 'TOKEN_INVALID')
    expectProblem(await me(await signed({ sub: user.userId, sid, iat: now + 6 })), 401, 'TOKEN_INVALID')
    expect((await me(await signed({ sub: user.userId, sid, iat: now + 5 }))).statusCode).toBe(200)
  })
})

describe('refresh tokens', () => {
  it('answers a repeat inside the grace window with 401 REFRESH_TOKEN_REUSED once its successor is spent', async () => {
    const user = await registerUser(server.app)
    const rt1 = json<{ refreshToken: string }>(await refreshWith(server.app, user.refreshToken)).refreshToken
    server.clock.advance(1)
    const second = await refreshWith(server.app, rt1)
    expect(second.statusCode).toBe(200)
    const rt2 = json<{ refreshToken: string }>(second).refreshToken
    server.clock.advance(1)
    // rt0 again, 2 s after its use: inside the window, but the chain has moved on
    expectProblem(await refreshWith(server.app, user.refreshToken), 401, 'REFRESH_TOKEN_REUSED')
    // the whole session is gone: the victim's newest token too
    expectProblem(await refreshWith(server.app, rt2), 401, 'REFRESH_TOKEN_INVALID')
  })

  it('still answers a repeat whose successor is unspent with that successor (parallel tabs)', async () => {
    const user = await registerUser(server.app)
    const rt1 = json<{ refreshToken: string }>(await refreshWith(server.app, user.refreshToken)).refreshToken
    server.clock.advance(2)
    const repeat = await refreshWith(server.app, user.refreshToken)
    expect(repeat.statusCode).toBe(200)
    expect(json<{ refreshToken: string }>(repeat).refreshToken).toBe(rt1)
  })
})

describe('requests refused before or around routing', () => {
  it('refuses a property the logout schema does not list', async () => {
    const body = expectProblem(await post('/auth/logout', { everywhere: true }), 400, 'VALIDATION_FAILED')
    expect(body.errors?.[0]?.field).toBe('everywhere')
  })

  it('answers an undecodable URL 400 MALFORMED_REQUEST as problem+json with the security headers', async () => {
    const user = await registerUser(server.app)
    const response = await server.app.inject({
      method: 'DELETE',
      url: '/auth/sessions/%zz',
      headers: bearer(user.accessToken),
    })
    expectProblem(response, 400, 'MALFORMED_REQUEST')
    expect(response.headers['content-security-policy']).toContain("default-src 'none'")
    expect(response.headers['x-content-type-options']).toBe('nosniff')
  })

  it('answers a path parameter over its length 414 URI_TOO_LONG as problem+json', async () => {
    const response = await server.app.inject({ method: 'DELETE', url: `/auth/sessions/${'a'.repeat(200)}` })
    expectProblem(response, 414, 'URI_TOO_LONG')
    expect(response.headers['x-frame-options']).toBe('DENY')
  })

  it('declares every error body of the OpenAPI document as application/problem+json (RFC 6749 JSON under /oauth/)', async () => {
    const doc = json<{
      paths: Record<string, Record<string, { responses: Record<string, { content?: object }> }>>
    }>(await server.app.inject({ url: '/openapi.json' }))
    let errors = 0
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses ?? {})) {
          if (!/^[45]/.test(status)) continue
          errors++
          // the OAuth endpoints answer RFC 6749 errors (docs/api.md "OAuth endpoints")
          expect(Object.keys(response.content ?? {}), `${method} ${path} ${status}`).toEqual([
            path.startsWith('/oauth/') ? 'application/json' : 'application/problem+json',
          ])
        }
      }
    }
    expect(errors).toBeGreaterThan(20)
  })
})

describe('two Authorization headers', () => {
  it('are refused with 401 TOKEN_INVALID rather than the first one used', async () => {
    const user = await registerUser(server.app)
    const port = await listen()
    const response = await rawRequest(
      port,
      `GET /auth/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${user.accessToken}\r\n` +
        'Authorization: Bearer x.y.z\r\nConnection: close\r\n\r\n',
    )
    expect(response.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized')
    expect(response).toContain('"code":"TOKEN_INVALID"')
    // one header alone still works
    expect((await server.app.inject({ url: '/auth/me', headers: bearer(user.accessToken) })).statusCode).toBe(
      200,
    )
  })
})

let listening: number | undefined
async function listen(): Promise<number> {
  if (listening === undefined) {
    await server.app.listen({ port: 0, host: '127.0.0.1' })
    const address = server.app.server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    listening = address.port
  }
  return listening
}
