import type { LightMyRequestResponse } from 'fastify'
import { decodeJwt } from 'jose'
import { Secret, TOTP } from 'otpauth'
import { bearer, json, type Registered, registerUser, type TestServer } from '../helpers/server.js'

/** The code an authenticator app shows for `secret` at the test clock's time. */
export const codeAt = (secret: string, server: Pick<TestServer, 'clock'>): string =>
  new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({
    timestamp: server.clock.now().getTime(),
  })

export const claimsOf = (accessToken: string) => decodeJwt(accessToken)

export const post = (server: TestServer, url: string, payload: object, token?: string) =>
  server.app.inject({ method: 'POST', url, payload, ...(token ? { headers: bearer(token) } : {}) })

/** A registered user whose email is verified (enrolling a factor needs it). */
export async function verifiedUser(server: TestServer): Promise<Registered> {
  const user = await registerUser(server.app)
  await server.deps.stores.users.markEmailVerified(user.userId, user.email, server.clock.now())
  return user
}

export interface Enrolled extends Registered {
  secret: string
  recoveryCodes: string[]
}

/**
 * A verified user with TOTP set up and confirmed; the clock is then moved to the next 30-second
 * step, so the next code differs from the one that confirmed.
 */
export async function enrolledUser(server: TestServer): Promise<Enrolled> {
  const user = await verifiedUser(server)
  const setup = await post(server, '/auth/mfa/totp/setup', {}, user.accessToken)
  if (setup.statusCode !== 200) throw new Error(`setup: ${setup.statusCode} ${setup.body}`)
  const { secret } = json<{ secret: string }>(setup)
  const confirm = await post(
    server,
    '/auth/mfa/totp/confirm',
    { code: codeAt(secret, server) },
    user.accessToken,
  )
  if (confirm.statusCode !== 200) throw new Error(`confirm: ${confirm.statusCode} ${confirm.body}`)
  server.clock.advance(30)
  return { ...user, secret, recoveryCodes: json<{ recoveryCodes: string[] }>(confirm).recoveryCodes }
}

export const login = (server: TestServer, user: Pick<Registered, 'email' | 'password'>) =>
  post(server, '/auth/login', { email: user.email, password: user.password, tokenDelivery: 'body' })

/** Logs in an enrolled user up to the mfaToken. */
export async function mfaTokenFor(
  server: TestServer,
  user: Pick<Registered, 'email' | 'password'>,
): Promise<string> {
  const response = await login(server, user)
  if (response.statusCode !== 200) throw new Error(`login: ${response.statusCode} ${response.body}`)
  return json<{ mfaToken: string }>(response).mfaToken
}

export const verify = (server: TestServer, payload: object) =>
  post(server, '/auth/mfa/verify', { tokenDelivery: 'body', ...payload })

export const codeOf = (response: LightMyRequestResponse): unknown => json(response).code
