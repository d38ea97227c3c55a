import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  cookiesOf,
  json,
  logoutWith,
  PASSWORD,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
} from '../helpers/server.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

type SessionsBody = {
  sessions: {
    id: string
    createdAt: string
    lastUsedAt: string
    userAgent: string | null
    ip: string | null
    current: boolean
  }[]
}

async function loginFrom(email: string, userAgent: string) {
  const response = await server.app.inject({
    method: 'POST',
    url: '/auth/login',
    headers: { 'user-agent': userAgent },
    payload: { email, password: PASSWORD, tokenDelivery: 'body' },
  })
  expect(response.statusCode).toBe(200)
  return json<{ accessToken: string; refreshToken: string }>(response)
}

const sessionsOf = async (accessToken: string) =>
  json<SessionsBody>(await server.app.inject({ url: '/auth/sessions', headers: bearer(accessToken) }))
    .sessions

describe('GET /auth/sessions', () => {
  it('lists live sessions per device, most recent first, marking the current one', async () => {
    const user = await registerUser(server.app)
    server.clock.advance(60)
    const laptop = await loginFrom(user.email, 'Laptop/1.0')
    server.clock.advance(60)
    const phone = await loginFrom(user.email, 'Phone/2.0')
    const response = await server.app.inject({ url: '/auth/sessions', headers: bearer(laptop.accessToken) })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    const { sessions } = json<SessionsBody>(response)
    expect(sessions).toHaveLength(3)
    expect(sessions.map((session) => session.userAgent)).toEqual([
      'Phone/2.0',
      'Laptop/1.0',
      'lightMyRequest',
    ])
    expect(sessions.filter((session) => session.current).map((session) => session.userAgent)).toEqual([
      'Laptop/1.0',
    ])
    expect(sessions[0]?.ip).toBe('127.0.0.1')
    expect(Object.keys(sessions[0] ?? {}).sort()).toEqual([
      'createdAt',
      'current',
      'id',
      'ip',
      'lastUsedAt',
      'userAgent',
    ])
    // a rotation moves lastUsedAt
    server.clock.advance(60)
    await refreshWith(server.app, phone.refreshToken)
    const after = await sessionsOf(laptop.accessToken)
    expect(after[0]?.lastUsedAt).toBe(server.clock.now().toISOString())
  })

  it('requires a bearer token', async () => {
    const response = await server.app.inject({ url: '/auth/sessions' })
    expect(response.statusCode).toBe(401)
    expect(json(response).code).toBe('TOKEN_MISSING')
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/)
  })
})

describe('DELETE /auth/sessions/:id', () => {
  it('revokes one of your sessions: its refresh and access tokens die, the others live', async () => {
    const user = await registerUser(server.app)
    const other = await loginFrom(user.email, 'Other/1.0')
    const target = (await sessionsOf(user.accessToken)).find((session) => session.userAgent === 'Other/1.0')
    const response = await server.app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${target?.id}`,
      headers: bearer(user.accessToken),
    })
    expect(response.statusCode).toBe(204)
    expect(json(await refreshWith(server.app, other.refreshToken)).code).toBe('REFRESH_TOKEN_INVALID')
    expect(
      (await server.app.inject({ url: '/auth/me', headers: bearer(other.accessToken) })).statusCode,
    ).toBe(401)
    expect((await server.app.inject({ url: '/auth/me', headers: bearer(user.accessToken) })).statusCode).toBe(
      200,
    )
    expect((await sessionsOf(user.accessToken)).map((session) => session.id)).not.toContain(target?.id)
    // a second delete finds nothing
    const again = await server.app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${target?.id}`,
      headers: bearer(user.accessToken),
    })
    expect(again.statusCode).toBe(404)
  })

  it("answers 404 for another user's session and leaves it alone", async () => {
    const alice = await registerUser(server.app)
    const mallory = await registerUser(server.app)
    const [aliceSession] = await sessionsOf(alice.accessToken)
    const response = await server.app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${aliceSession?.id}`,
      headers: bearer(mallory.accessToken),
    })
    expect(response.statusCode).toBe(404)
    expect(json(response).code).toBe('NOT_FOUND')
    expect((await refreshWith(server.app, alice.refreshToken)).statusCode).toBe(200)
  })

  it('answers 404 for an unknown id and 400 for one that is not a UUID', async () => {
    const user = await registerUser(server.app)
    const unknown = await server.app.inject({
      method: 'DELETE',
      url: '/auth/sessions/00000000-0000-4000-8000-000000000000',
      headers: bearer(user.accessToken),
    })
    expect(unknown.statusCode).toBe(404)
    const malformed = await server.app.inject({
      method: 'DELETE',
      url: '/auth/sessions/nope',
      headers: bearer(user.accessToken),
    })
    expect(malformed.statusCode).toBe(400)
    expect(json(malformed).code).toBe('VALIDATION_FAILED')
  })
})

describe('POST /auth/logout', () => {
  it('revokes the session of a body refresh token and is idempotent', async () => {
    const user = await registerUser(server.app)
    const logout = () => logoutWith(server.app, user.refreshToken)
    const first = await logout()
    expect(first.statusCode).toBe(204)
    expect(first.body).toBe('')
    expect(json(await refreshWith(server.app, user.refreshToken)).code).toBe('REFRESH_TOKEN_INVALID')
    expect((await server.app.inject({ url: '/auth/me', headers: bearer(user.accessToken) })).statusCode).toBe(
      401,
    )
    expect((await logout()).statusCode).toBe(204)
    const unknown = await server.app.inject({
      method: 'POST',
      url: '/auth/logout',
      payload: { refreshToken: 'C'.repeat(43) },
    })
    expect(unknown.statusCode).toBe(204)
  })

  it('revokes the session of the cookie and clears the cookie', async () => {
    const register = await server.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: `logout-cookie-${Date.now()}@example.com`, password: PASSWORD },
    })
    const token = cookiesOf(register).get('tessera_refresh')?.value ?? ''
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { origin: 'http://localhost:3000' },
      cookies: { tessera_refresh: token },
      payload: {},
    })
    expect(response.statusCode).toBe(204)
    expect(cookiesOf(response).get('tessera_refresh')).toMatchObject({ value: '', maxAge: 0, path: '/auth' })
    expect(json(await refreshWith(server.app, token)).code).toBe('REFRESH_TOKEN_INVALID')
  })

  it('refuses a cross-site Origin and a non-JSON body', async () => {
    const user = await registerUser(server.app)
    const crossSite = await server.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { origin: 'https://evil.example' },
      cookies: { tessera_refresh: user.refreshToken },
      payload: {},
    })
    expect(crossSite.statusCode).toBe(403)
    const form = await server.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      cookies: { tessera_refresh: user.refreshToken },
      payload: 'x=1',
    })
    expect(form.statusCode).toBe(415)
    expect((await refreshWith(server.app, user.refreshToken)).statusCode).toBe(200)
  })
})

describe('POST /auth/logout-all', () => {
  it('revokes every session of the user and no one else’s', async () => {
    const user = await registerUser(server.app)
    const second = await loginFrom(user.email, 'Second/1.0')
    const bystander = await registerUser(server.app)
    const response = await server.app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: bearer(second.accessToken),
    })
    expect(response.statusCode).toBe(204)
    for (const token of [user.refreshToken, second.refreshToken]) {
      expect(json(await refreshWith(server.app, token)).code).toBe('REFRESH_TOKEN_INVALID')
    }
    for (const token of [user.accessToken, second.accessToken]) {
      expect((await server.app.inject({ url: '/auth/me', headers: bearer(token) })).statusCode).toBe(401)
    }
    expect((await refreshWith(server.app, bystander.refreshToken)).statusCode).toBe(200)
    // a new login works again
    await loginFrom(user.email, 'Again/1.0')
  })

  it('requires a bearer token', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/auth/logout-all' })
    expect(response.statusCode).toBe(401)
    expect(json(response).code).toBe('TOKEN_MISSING')
  })
})
