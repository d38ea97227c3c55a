import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, json, registerUser, startTestServer, type TestServer } from '../helpers/server.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

describe('smoke', () => {
  it('registers and reads /auth/me', async () => {
    const user = await registerUser(server.app)
    const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(user.accessToken) })
    expect(me.statusCode).toBe(200)
    expect(json<{ user: { email: string } }>(me).user.email).toBe(user.email)
  })
})
