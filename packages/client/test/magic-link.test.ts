import { afterEach, describe, expect, it } from 'vitest'
import {
  type ClientEvent,
  createClient,
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
function bodyClient(fake: FakeMfaServer) {
  const storage = memoryStorage()
  const client = createClient({
    baseUrl: MFA_FAKE.baseUrl,
    tokenDelivery: 'body',
    storage,
    fetch: fake.fetch,
  })
  open.push(client)
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, events, storage }
}

describe('signInWithMagicLink', () => {
  it('posts the token and the delivery, without Authorization, and signs in like login', async () => {
    const fake = createFakeMfaServer()
    const { client, events, storage } = bodyClient(fake)

    const result = await client.signInWithMagicLink({ token: MFA_FAKE.plainMagicToken })

    expect(result).toMatchObject({ status: 'signed-in', user: { email: MFA_FAKE.plainEmail } })
    const [sent] = fake.to('/auth/magic-link/verify')
    expect(sent?.method).toBe('POST')
    expect(sent?.headers.get('content-type')).toBe('application/json')
    expect(sent?.headers.get('authorization')).toBeNull()
    expect(sent?.body).toEqual({ token: MFA_FAKE.plainMagicToken, tokenDelivery: 'body' })
    expect(client.state).toBe('signed-in')
    expect(events).toEqual([{ type: 'signed-in', user: result.status === 'signed-in' ? result.user : null }])
    expect(await storage.get()).toMatch(/^refresh-/)
    expect(await client.getAccessToken()).toMatch(/^access-/)
  })

  it('resolves mfa_required for an account with a second factor; verifyMfa then finishes', async () => {
    const fake = createFakeMfaServer()
    const { client, events } = bodyClient(fake)

    const result = await client.signInWithMagicLink({ token: MFA_FAKE.magicToken })

    expect(result).toEqual({ status: 'mfa_required', methods: ['totp', 'recovery_code'] })
    expect(client.state).toBe('unknown')
    expect(events).toEqual([])
    const user = await client.verifyMfa({ code: MFA_FAKE.code })
    expect(user.email).toBe(MFA_FAKE.email)
    // the mfaToken the magic link answered, kept by the client, never shown to the app
    expect(fake.to('/auth/mfa/verify')[0]?.body).toEqual({
      mfaToken: expect.stringMatching(/^mfa-token-/),
      code: MFA_FAKE.code,
      tokenDelivery: 'body',
    })
    expect(client.state).toBe('signed-in')
  })

  it('rejects a used, expired or unknown link with ONE_TIME_TOKEN_INVALID and stays signed out', async () => {
    const fake = createFakeMfaServer()
    await bodyClient(fake).client.signInWithMagicLink({ token: MFA_FAKE.plainMagicToken })
    const { client, events, storage } = bodyClient(fake)

    const used = await caught(client.signInWithMagicLink({ token: MFA_FAKE.plainMagicToken }))
    expect(used).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID', status: 400 })
    const unknown = await caught(client.signInWithMagicLink({ token: 'not-a-token-we-sent' }))
    expect(unknown).toMatchObject({ code: 'ONE_TIME_TOKEN_INVALID', status: 400 })
    expect(client.state).toBe('unknown')
    expect(events).toEqual([])
    expect(await storage.get()).toBeNull()
  })

  it('abandons a sign-in that waited for its second factor', async () => {
    const fake = createFakeMfaServer()
    const { client } = bodyClient(fake)
    await client.login({ email: MFA_FAKE.email, password: MFA_FAKE.password })

    const failed = await caught(client.signInWithMagicLink({ token: 'not-a-token-we-sent' }))
    expect(failed.code).toBe('ONE_TIME_TOKEN_INVALID')
    const error = await caught(client.verifyMfa({ code: MFA_FAKE.code }))
    expect(error.code).toBe('MFA_TOKEN_INVALID')
    expect(fake.to('/auth/mfa/verify')).toHaveLength(0)
  })

  it('in cookie mode asks for the refresh cookie and keeps the refresh token out of JavaScript', async () => {
    const fake = createFakeMfaServer()
    const jar = cookieJar(fake.fetch)
    const client = createClient({
      baseUrl: MFA_FAKE.baseUrl,
      tokenDelivery: 'cookie',
      crossTab: false,
      fetch: jar.fetch,
    })
    open.push(client)

    await client.signInWithMagicLink({ token: MFA_FAKE.plainMagicToken })

    const [sent] = fake.to('/auth/magic-link/verify')
    expect(sent?.credentials).toBe('include')
    expect(sent?.body).toEqual({ token: MFA_FAKE.plainMagicToken, tokenDelivery: 'cookie' })
    expect(jar.cookies.get('tessera_refresh')).toMatch(/^refresh-/)
    expect(client.state).toBe('signed-in')
  })
})
