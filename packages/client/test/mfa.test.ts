import { afterEach, describe, expect, it } from 'vitest'
import {
  type ClientEvent,
  type ClientOptions,
  createClient,
  isStepUpRequired,
  memoryStorage,
  type TesseraClient,
  TesseraClientError,
} from '../src/index.js'
import { createFakeMfaServer, type FakeMfaServer, MFA_FAKE } from './helpers/fake-mfa-server.js'
import { cookieJar } from './helpers/fetch.js'

async function caught(promise: Promise<unknown>): Promise<TesseraClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraClientError)
  return error as TesseraClientError
}

const open: TesseraClient[] = []
afterEach(() => {
  for (const client of open.splice(0)) client.close()
})

/** Node, body mode, against `fake`; its events recorded. */
function bodyClient(fake: FakeMfaServer, options: Partial<ClientOptions> = {}) {
  const storage = memoryStorage()
  const client = createClient({
    baseUrl: MFA_FAKE.baseUrl,
    tokenDelivery: 'body',
    storage,
    fetch: fake.fetch,
    ...options,
  })
  open.push(client)
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, events, storage }
}

const credentials = { email: MFA_FAKE.email, password: MFA_FAKE.password }
const bearerOf = (fake: FakeMfaServer, path: string) => fake.to(path).at(-1)?.headers.get('authorization')

/** A client signed in with two factors. */
async function signedInWithMfa(fake: FakeMfaServer) {
  const context = bodyClient(fake)
  await context.client.login(credentials)
  await context.client.verifyMfa({ code: MFA_FAKE.code })
  return context
}

describe('login with a second factor', () => {
  it('resolves mfa_required with the methods, keeps the mfaToken to itself and opens no session', async () => {
    const fake = createFakeMfaServer()
    const { client, events, storage } = bodyClient(fake)

    const result = await client.login(credentials)

    expect(result).toEqual({ status: 'mfa_required', methods: ['totp', 'recovery_code'] })
    expect(fake.to('/auth/login')[0]?.body).toEqual({ ...credentials, tokenDelivery: 'body' })
    expect(client.state).toBe('unknown')
    expect(client.user).toBeNull()
    expect(events).toEqual([])
    expect(await storage.get()).toBeNull()
  })

  it('verifyMfa({ code }) posts the mfaToken, the code and the delivery, then signs in like login', async () => {
    const fake = createFakeMfaServer()
    const { client, events, storage } = bodyClient(fake)
    await client.login(credentials)

    const user = await client.verifyMfa({ code: MFA_FAKE.code })

    expect(user.email).toBe(MFA_FAKE.email)
    const [sent] = fake.to('/auth/mfa/verify')
    expect(sent?.method).toBe('POST')
    expect(sent?.headers.get('content-type')).toBe('application/json')
    expect(sent?.headers.get('authorization')).toBeNull()
    expect(sent?.body).toEqual({ mfaToken: 'mfa-token-1', code: MFA_FAKE.code, tokenDelivery: 'body' })
    expect(client.state).toBe('signed-in')
    expect(events).toEqual([{ type: 'signed-in', user }])
    expect(await storage.get()).toMatch(/^refresh-/)
    expect(await client.getAccessToken()).toMatch(/^access-/)
  })

  it('verifyMfa({ recoveryCode }) sends the recovery code and nothing else', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    await client.login(credentials)

    const recoveryCode = MFA_FAKE.recoveryCodes[3] as string
    await client.verifyMfa({ recoveryCode })

    expect(fake.to('/auth/mfa/verify')[0]?.body).toEqual({
      mfaToken: 'mfa-token-1',
      recoveryCode,
      tokenDelivery: 'body',
    })
    expect(client.state).toBe('signed-in')
  })

  it('rejects a wrong code with MFA_CODE_INVALID and lets the user try again with the same login', async () => {
    const fake = createFakeMfaServer()
    const { client, events } = bodyClient(fake)
    await client.login(credentials)

    const error = await caught(client.verifyMfa({ code: '000000' }))
    expect(error).toMatchObject({ code: 'MFA_CODE_INVALID', status: 401 })
    expect(client.state).toBe('unknown')
    expect(events).toEqual([])

    await client.verifyMfa({ code: MFA_FAKE.code })
    expect(
      fake.to('/auth/mfa/verify').map((request) => (request.body as { mfaToken: string }).mfaToken),
    ).toEqual(['mfa-token-1', 'mfa-token-1'])
    expect(client.state).toBe('signed-in')
  })

  it('after MFA_TOKEN_INVALID (5 wrong codes) asks for a new login without sending another request', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    await client.login(credentials)
    for (let i = 0; i < 4; i++)
      expect((await caught(client.verifyMfa({ code: '000000' }))).code).toBe('MFA_CODE_INVALID')
    // the fifth wrong code killed the token on the server; the next try learns it
    expect((await caught(client.verifyMfa({ code: '000000' }))).code).toBe('MFA_CODE_INVALID')
    expect((await caught(client.verifyMfa({ code: MFA_FAKE.code }))).code).toBe('MFA_TOKEN_INVALID')
    const sent = fake.to('/auth/mfa/verify').length

    const again = await caught(client.verifyMfa({ code: MFA_FAKE.code }))

    expect(again.code).toBe('MFA_TOKEN_INVALID')
    expect(again.status).toBeUndefined()
    expect(fake.to('/auth/mfa/verify')).toHaveLength(sent)
    // a new login gets a new mfaToken
    await client.login(credentials)
    await client.verifyMfa({ code: MFA_FAKE.code })
    expect(client.state).toBe('signed-in')
  })

  it('verifyMfa without a login waiting rejects with MFA_TOKEN_INVALID and sends nothing', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)

    const error = await caught(client.verifyMfa({ code: MFA_FAKE.code }))

    expect(error.code).toBe('MFA_TOKEN_INVALID')
    expect(fake.requests).toEqual([])
  })

  it('resolves signed-in at once for an account without a second factor', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)

    const result = await client.login({ email: MFA_FAKE.plainEmail, password: MFA_FAKE.password })

    expect(result).toMatchObject({ status: 'signed-in', user: { email: MFA_FAKE.plainEmail } })
    expect(client.state).toBe('signed-in')
  })

  it('in cookie mode asks for the refresh cookie on verify and keeps the refresh token out of JavaScript', async () => {
    const fake = createFakeMfaServer()
    const jar = cookieJar(fake.fetch)
    const client = createClient({
      baseUrl: MFA_FAKE.baseUrl,
      tokenDelivery: 'cookie',
      crossTab: false,
      fetch: jar.fetch,
    })
    open.push(client)
    await client.login(credentials)

    await client.verifyMfa({ code: MFA_FAKE.code })

    const [sent] = fake.to('/auth/mfa/verify')
    expect(sent?.credentials).toBe('include')
    expect(sent?.body).toMatchObject({ tokenDelivery: 'cookie' })
    expect(jar.cookies.get('tessera_refresh')).toMatch(/^refresh-/)
    expect(client.state).toBe('signed-in')
  })
})

describe('TOTP enrolment and status', () => {
  it('setupTotp posts with the access token and resolves to the secret, URI and QR code', async () => {
    const fake = createFakeMfaServer({ totpOn: false })
    const { client } = bodyClient(fake)
    await client.login(credentials)

    const setup = await client.setupTotp()

    expect(setup).toEqual({ secret: MFA_FAKE.secret, otpauthUri: MFA_FAKE.otpauthUri, qrSvg: MFA_FAKE.qrSvg })
    const [sent] = fake.to('/auth/mfa/totp/setup')
    expect(sent?.method).toBe('POST')
    expect(sent?.headers.get('authorization')).toMatch(/^Bearer access-/)
  })

  it('confirmTotp(code) posts { code } and resolves to the ten recovery codes', async () => {
    const fake = createFakeMfaServer({ totpOn: false })
    const { client } = bodyClient(fake)
    await client.login(credentials)
    await client.setupTotp()

    expect((await caught(client.confirmTotp('000000'))).code).toBe('MFA_CODE_INVALID')
    const codes = await client.confirmTotp(MFA_FAKE.code)

    expect(codes).toEqual({ recoveryCodes: [...MFA_FAKE.recoveryCodes] })
    expect(fake.to('/auth/mfa/totp/confirm').at(-1)?.body).toEqual({ code: MFA_FAKE.code })
    expect(bearerOf(fake, '/auth/mfa/totp/confirm')).toMatch(/^Bearer access-/)
    expect(fake.totpOn).toBe(true)
  })

  it('setupTotp after an old sign-in rejects with STEP_UP_REQUIRED and max_age, without refreshing', async () => {
    const fake = createFakeMfaServer({ totpOn: false })
    const { client } = bodyClient(fake)
    await client.login(credentials)
    fake.ageSignIns()

    const error = await caught(client.setupTotp())

    expect(error).toMatchObject({ code: 'STEP_UP_REQUIRED', status: 401 })
    expect(error.stepUp).toEqual({ acrValues: [], maxAge: 300, description: 'A recent sign-in is required' })
    expect(isStepUpRequired(error)).toBe(true)
    expect(fake.to('/auth/refresh')).toEqual([])

    // a password step-up meets max_age
    await client.stepUp({ password: MFA_FAKE.password })
    await expect(client.setupTotp()).resolves.toMatchObject({ secret: MFA_FAKE.secret })
  })

  it('setupTotp when TOTP is on already rejects with TOTP_ALREADY_ENABLED (409)', async () => {
    const fake = createFakeMfaServer()
    const { client } = await signedInWithMfa(fake)

    expect(await caught(client.setupTotp())).toMatchObject({ code: 'TOTP_ALREADY_ENABLED', status: 409 })
  })

  it('mfaStatus() GETs /auth/mfa with the access token', async () => {
    const fake = createFakeMfaServer()
    const { client } = await signedInWithMfa(fake)

    await expect(client.mfaStatus()).resolves.toEqual({ totp: true, passkeys: 0, recoveryCodesLeft: 10 })
    const [sent] = fake.to('/auth/mfa')
    expect(sent?.method).toBe('GET')
    expect(sent?.headers.get('authorization')).toMatch(/^Bearer access-/)
  })

  it('rejects each call with NOT_SIGNED_IN without a session', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    for (const call of [
      client.setupTotp(),
      client.confirmTotp('1'),
      client.mfaStatus(),
      client.stepUp({ code: '1' }),
    ]) {
      expect((await caught(call)).code).toBe('NOT_SIGNED_IN')
    }
    expect(fake.requests).toEqual([])
  })
})

describe('step-up', () => {
  it("turns an API's 401 STEP_UP_REQUIRED into an error with its acr_values and max_age, never a refresh", async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    await client.login({ email: MFA_FAKE.plainEmail, password: MFA_FAKE.password })

    const error = await caught(client.fetch(`${MFA_FAKE.apiUrl}/payouts`))

    expect(error).toMatchObject({ code: 'STEP_UP_REQUIRED', status: 401 })
    expect(error.problem?.code).toBe('STEP_UP_REQUIRED')
    expect(error.stepUp).toEqual({
      acrValues: ['urn:tessera:mfa'],
      maxAge: 300,
      description: 'A recent sign-in with a second factor is required',
    })
    expect(fake.to('/payouts')).toHaveLength(1)
    expect(fake.to('/auth/refresh')).toEqual([])
    expect(client.state).toBe('signed-in')
  })

  it('reads the challenge of any RFC 9470 server, token or quoted values, without a problem body', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    await client.login({ email: MFA_FAKE.plainEmail, password: MFA_FAKE.password })

    const error = await caught(client.fetch(`${MFA_FAKE.apiUrl}/other`))

    expect(error.code).toBe('STEP_UP_REQUIRED')
    expect(error.problem).toBeUndefined()
    expect(error.stepUp).toEqual({ acrValues: ['a', 'b'], maxAge: 60 })
  })

  it('stepUp({ code }) posts the code with the access token and replaces the token of the same session', async () => {
    const fake = createFakeMfaServer()
    const { client, events, storage } = bodyClient(fake)
    await client.login({ email: MFA_FAKE.plainEmail, password: MFA_FAKE.password })
    const before = await client.getAccessToken()
    const refreshToken = await storage.get()
    await caught(client.fetch(`${MFA_FAKE.apiUrl}/payouts`))

    await client.stepUp({ code: MFA_FAKE.code })

    const [sent] = fake.to('/auth/mfa/step-up')
    expect(sent?.method).toBe('POST')
    expect(sent?.headers.get('authorization')).toBe(`Bearer ${before}`)
    expect(sent?.body).toEqual({ code: MFA_FAKE.code })
    const after = await client.getAccessToken()
    expect(after).not.toBe(before)
    // the same session: no new sign-in event, the refresh token kept
    expect(events).toHaveLength(1)
    expect(await storage.get()).toBe(refreshToken)
    // the retry passes with the new token
    const response = await client.fetch(`${MFA_FAKE.apiUrl}/payouts`)
    expect(response.status).toBe(200)
    expect(bearerOf(fake, '/payouts')).toBe(`Bearer ${after}`)
  })

  it('stepUp sends only the proof given: a recovery code, or the password', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    await client.login({ email: MFA_FAKE.plainEmail, password: MFA_FAKE.password })

    await client.stepUp({ password: MFA_FAKE.password })
    await caught(client.stepUp({ recoveryCode: 'rc0-aaaa-bbbb' }))

    expect(fake.to('/auth/mfa/step-up').map((request) => request.body)).toEqual([
      { password: MFA_FAKE.password },
      { recoveryCode: 'rc0-aaaa-bbbb' },
    ])
  })

  it('rejects a wrong code with MFA_CODE_INVALID and a wrong password with INVALID_CREDENTIALS, keeping the session', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    await client.login({ email: MFA_FAKE.plainEmail, password: MFA_FAKE.password })
    const before = await client.getAccessToken()

    expect((await caught(client.stepUp({ code: '000000' }))).code).toBe('MFA_CODE_INVALID')
    expect((await caught(client.stepUp({ password: 'wrong password' }))).code).toBe('INVALID_CREDENTIALS')

    expect(client.state).toBe('signed-in')
    expect(await client.getAccessToken()).toBe(before)
    expect(fake.to('/auth/refresh')).toEqual([])
  })
})
