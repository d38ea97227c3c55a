import { Secret, TOTP } from 'otpauth'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ClientEvent, createClient, memoryStorage, TesseraClientError } from '../src/index.js'
import { manualClock, PASSWORD, type RunningServer, startServer, uniqueEmail } from './helpers/server.js'

// a real server whose admins must have a second factor (TESSERA_MFA_REQUIRED_ROLES)
let server: RunningServer
beforeAll(async () => {
  server = await startServer({ TESSERA_MFA_REQUIRED_ROLES: 'admin' })
})
afterAll(async () => {
  await server?.close()
})

/** The code an authenticator app shows for `secret` at the server's time. */
const codeAt = (secret: string, at: Date): string =>
  new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({
    timestamp: at.getTime(),
  })
const serverNow = () => server.tessera.deps.clock.now()

function bodyClient() {
  const client = createClient({
    baseUrl: server.baseUrl,
    tokenDelivery: 'body',
    storage: memoryStorage(),
    now: manualClock().now,
  })
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, events }
}

/** An account with a verified email and the admin role, registered through another client. */
async function admin(): Promise<{ email: string; id: string }> {
  const email = uniqueEmail('admin')
  const { client } = bodyClient()
  const registered = await client.register({ email, password: PASSWORD })
  if (registered.status !== 'signed-in') throw new Error('registration opened no session')
  const stores = server.tessera.deps.stores
  await stores.users.markEmailVerified(registered.user.id, email, serverNow())
  await stores.users.setRoles(registered.user.id, ['admin'], serverNow())
  client.close()
  return { email, id: registered.user.id }
}

async function caught(promise: Promise<unknown>): Promise<TesseraClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraClientError)
  return error as TesseraClientError
}

describe('a login that requires enrolling a second factor', () => {
  it('resolves mfa_enrollment_required; setupTotp and confirmTotp then sign in', async () => {
    const { email, id } = await admin()
    const { client, events } = bodyClient()

    expect(await client.login({ email, password: PASSWORD })).toEqual({ status: 'mfa_enrollment_required' })
    expect(client.state).not.toBe('signed-in')
    expect(events).toEqual([])

    const setup = await client.setupTotp()
    expect(setup.otpauthUri).toMatch(/^otpauth:\/\/totp\//)
    const { recoveryCodes } = await client.confirmTotp(codeAt(setup.secret, serverNow()))
    expect(recoveryCodes).toHaveLength(10)
    expect(client.state).toBe('signed-in')
    expect(client.user?.id).toBe(id)
    expect(events.map((event) => event.type)).toEqual(['signed-in'])
    expect((await client.me()).id).toBe(id)
    expect(await client.mfaStatus()).toEqual({ totp: true, passkeys: 0, recoveryCodesLeft: 10 })
    client.close()

    // from now on the factor is asked for, as for anyone who has one
    const next = bodyClient().client
    expect(await next.login({ email, password: PASSWORD })).toMatchObject({ status: 'mfa_required' })
    expect((await next.verifyMfa({ recoveryCode: recoveryCodes[0] ?? '' })).id).toBe(id)
    next.close()
  })

  it('keeps the enrolment pending after a wrong code, and forgets it once the token is dead', async () => {
    const { email } = await admin()
    const { client } = bodyClient()
    await client.login({ email, password: PASSWORD })
    const setup = await client.setupTotp()
    const right = codeAt(setup.secret, serverNow())
    const wrong = right === '000000' ? '111111' : '000000'
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await caught(client.confirmTotp(wrong))).code).toBe('MFA_CODE_INVALID')
    }
    expect((await caught(client.confirmTotp(right))).code).toBe('MFA_TOKEN_INVALID')
    // no enrolment token any more: the call needs a session, which there is none of
    expect((await caught(client.confirmTotp(right))).code).toBe('NOT_SIGNED_IN')
    expect(client.state).not.toBe('signed-in')
    client.close()
  })
})

describe('managing TOTP once enrolled', () => {
  it('regenerates the recovery codes (the old ones stop working) and turns TOTP off with a code', async () => {
    const { email } = await admin()
    const { client } = bodyClient()
    await client.login({ email, password: PASSWORD })
    const setup = await client.setupTotp()
    const first = await client.confirmTotp(codeAt(setup.secret, serverNow()))

    // the next 30-second step: a code is accepted once
    server.advance(30)
    const { recoveryCodes } = await client.regenerateRecoveryCodes(codeAt(setup.secret, serverNow()))
    expect(recoveryCodes).toHaveLength(10)
    expect(recoveryCodes).not.toContain(first.recoveryCodes[0])
    const old = bodyClient().client
    await old.login({ email, password: PASSWORD })
    expect((await caught(old.verifyMfa({ recoveryCode: first.recoveryCodes[0] ?? '' }))).code).toBe(
      'MFA_CODE_INVALID',
    )
    old.close()

    server.advance(30)
    expect((await caught(client.disableTotp('000000'))).code).toBe('MFA_CODE_INVALID')
    await client.disableTotp(codeAt(setup.secret, serverNow()))
    expect(await client.mfaStatus()).toEqual({ totp: false, passkeys: 0, recoveryCodesLeft: 0 })
    client.close()
  })
})
