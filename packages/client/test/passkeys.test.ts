import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type ClientEvent,
  createClient,
  memoryStorage,
  type TesseraClient,
  TesseraClientError,
} from '../src/index.js'
import {
  createFakePasskeyServer,
  type FakePasskeyServer,
  PASSKEY_FAKE,
} from './helpers/fake-passkey-server.js'

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
  vi.unstubAllGlobals()
})

function bodyClient(fake: FakePasskeyServer) {
  const storage = memoryStorage()
  const client = createClient({
    baseUrl: PASSKEY_FAKE.baseUrl,
    tokenDelivery: 'body',
    storage,
    fetch: fake.fetch,
  })
  open.push(client)
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, events, storage }
}

interface Ceremony {
  kind: 'create' | 'get'
  /** What the page passed to `parse…OptionsFromJSON`. */
  json: Record<string, unknown>
}

/**
 * A browser's WebAuthn, stubbed: `PublicKeyCredential`'s JSON parsers and `navigator.credentials`,
 * whose credentials answer `toJSON()` with the fake's credential id and the options' challenge.
 * `fail` makes the next ceremony reject with that DOMException name (or resolve null).
 */
function stubWebAuthn(credentialId: string = PASSKEY_FAKE.credentialId) {
  const ceremonies: Ceremony[] = []
  const control: { fail?: string | null } = {}
  const parse = (json: Record<string, unknown>) => ({ parsed: json })
  const answer =
    (kind: Ceremony['kind']) => async (options: { publicKey: { parsed: Record<string, unknown> } }) => {
      ceremonies.push({ kind, json: options.publicKey.parsed })
      const fail = control.fail
      control.fail = undefined
      if (fail === null) return null
      if (fail !== undefined) throw new DOMException('refused', fail)
      return {
        toJSON: () => ({
          id: credentialId,
          rawId: credentialId,
          type: 'public-key',
          challenge: options.publicKey.parsed.challenge,
          clientExtensionResults: {},
        }),
      }
    }
  vi.stubGlobal('PublicKeyCredential', {
    parseCreationOptionsFromJSON: parse,
    parseRequestOptionsFromJSON: parse,
  })
  vi.stubGlobal('navigator', { credentials: { create: answer('create'), get: answer('get') } })
  return { ceremonies, control }
}

async function signedIn(fake: FakePasskeyServer) {
  const context = bodyClient(fake)
  await context.client.login({ email: PASSKEY_FAKE.email, password: PASSKEY_FAKE.password })
  return context
}

describe('passkeys in the client', () => {
  it('registerPasskey asks the server for options, the browser for a credential, and sends its JSON back', async () => {
    const fake = createFakePasskeyServer()
    const { ceremonies } = stubWebAuthn()
    const { client } = await signedIn(fake)

    const passkey = await client.registerPasskey({ name: 'Laptop' })

    expect(passkey).toEqual({ id: expect.any(String), name: 'Laptop', createdAt: '2025-01-02T00:00:00.000Z' })
    expect(ceremonies).toEqual([{ kind: 'create', json: expect.objectContaining({ rp: expect.anything() }) }])
    const [options] = fake.to('/auth/passkeys/register/options')
    expect(options?.headers.get('authorization')).toMatch(/^Bearer access-/)
    const [sent] = fake.to('/auth/passkeys/register/verify')
    expect(sent?.body).toEqual({
      challengeId: expect.stringMatching(/^challenge-/),
      response: expect.objectContaining({ id: PASSKEY_FAKE.credentialId, type: 'public-key' }),
      name: 'Laptop',
    })
    expect(sent?.headers.get('authorization')).toMatch(/^Bearer access-/)
  })

  it('lists and deletes passkeys', async () => {
    const fake = createFakePasskeyServer()
    stubWebAuthn()
    const { client } = await signedIn(fake)
    const { id } = await client.registerPasskey()
    expect(await client.listPasskeys()).toEqual([
      { id, name: 'Passkey 1', createdAt: '2025-01-02T00:00:00.000Z', lastUsedAt: null, backedUp: false },
    ])
    await client.deletePasskey(id)
    expect(fake.to(`/auth/passkeys/${id}`)[0]?.method).toBe('DELETE')
    expect(await client.listPasskeys()).toEqual([])
    expect((await caught(client.deletePasskey(id))).code).toBe('NOT_FOUND')
  })

  it('signInWithPasskey signs in without email or password, like login', async () => {
    const fake = createFakePasskeyServer()
    const { ceremonies } = stubWebAuthn()
    const { client, events, storage } = bodyClient(fake)

    const user = await client.signInWithPasskey()

    expect(user.email).toBe(PASSKEY_FAKE.email)
    expect(client.state).toBe('signed-in')
    expect(events.map((event) => event.type)).toEqual(['signed-in'])
    expect(await storage.get()).toMatch(/^refresh-/)
    expect(ceremonies).toEqual([
      { kind: 'get', json: expect.objectContaining({ userVerification: 'required' }) },
    ])
    const [sent] = fake.to('/auth/passkeys/login/verify')
    expect(sent?.body).toEqual({
      challengeId: expect.stringMatching(/^challenge-/),
      response: expect.objectContaining({ id: PASSKEY_FAKE.credentialId }),
      tokenDelivery: 'body',
    })
  })

  it('verifyMfa({ passkey: true }) answers mfa_required with a passkey, bound to the login', async () => {
    const fake = createFakePasskeyServer()
    stubWebAuthn()
    const first = await signedIn(fake)
    await first.client.registerPasskey()

    const { client } = bodyClient(fake)
    const result = await client.login({ email: PASSKEY_FAKE.email, password: PASSKEY_FAKE.password })
    expect(result).toEqual({ status: 'mfa_required', methods: ['passkey'] })
    const user = await client.verifyMfa({ passkey: true })

    expect(user.email).toBe(PASSKEY_FAKE.email)
    expect(client.state).toBe('signed-in')
    expect(fake.to('/auth/mfa/passkey/options')[0]?.body).toEqual({ mfaToken: 'mfa-1' })
    expect(fake.to('/auth/mfa/verify')[0]?.body).toEqual({
      mfaToken: 'mfa-1',
      challengeId: expect.stringMatching(/^challenge-/),
      passkey: expect.objectContaining({ id: PASSKEY_FAKE.credentialId }),
      tokenDelivery: 'body',
    })
  })

  it('stepUp({ passkey: true }) asks for options with the access token and takes the new one', async () => {
    const fake = createFakePasskeyServer()
    stubWebAuthn()
    const { client } = await signedIn(fake)
    const before = await client.getAccessToken()

    await client.stepUp({ passkey: true })

    const [options] = fake.to('/auth/mfa/passkey/options')
    expect(options?.body).toEqual({})
    expect(options?.headers.get('authorization')).toBe(`Bearer ${before}`)
    expect(fake.to('/auth/mfa/step-up')[0]?.body).toEqual({
      challengeId: expect.stringMatching(/^challenge-/),
      passkey: expect.objectContaining({ id: PASSKEY_FAKE.credentialId }),
    })
    expect(await client.getAccessToken()).not.toBe(before)
  })

  it("passes the server's refusal on: an unknown passkey is PASSKEY_INVALID", async () => {
    const fake = createFakePasskeyServer()
    stubWebAuthn('someone-elses')
    const { client } = bodyClient(fake)
    const error = await caught(client.signInWithPasskey())
    expect(error).toMatchObject({ code: 'PASSKEY_INVALID', status: 401 })
    expect(client.state).not.toBe('signed-in')
  })

  it('rejects with PASSKEY_CANCELLED when the user dismisses the prompt, and PASSKEY_EXISTS for a known authenticator', async () => {
    const fake = createFakePasskeyServer()
    const { control } = stubWebAuthn()
    const { client } = await signedIn(fake)
    control.fail = 'NotAllowedError'
    expect(await caught(client.signInWithPasskey())).toMatchObject({
      code: 'PASSKEY_CANCELLED',
      retryable: true,
    })
    control.fail = null
    expect((await caught(client.signInWithPasskey())).code).toBe('PASSKEY_CANCELLED')
    control.fail = 'InvalidStateError'
    expect((await caught(client.registerPasskey())).code).toBe('PASSKEY_EXISTS')
    control.fail = 'SecurityError'
    const failed = await caught(client.registerPasskey())
    expect(failed.code).toBe('WEBAUTHN_FAILED')
    expect(failed.cause).toBeInstanceOf(DOMException)
    // nothing was sent for the refused ceremonies
    expect(fake.to('/auth/passkeys/register/verify')).toEqual([])
  })

  it('rejects with WEBAUTHN_UNAVAILABLE where there is no WebAuthn, before sending anything', async () => {
    const fake = createFakePasskeyServer()
    const { client } = await signedIn(fake)
    const sent = fake.requests.length
    expect((await caught(client.signInWithPasskey())).code).toBe('WEBAUTHN_UNAVAILABLE')
    expect((await caught(client.registerPasskey())).code).toBe('WEBAUTHN_UNAVAILABLE')
    // an older browser: navigator.credentials, but no JSON parsers
    vi.stubGlobal('PublicKeyCredential', {})
    vi.stubGlobal('navigator', { credentials: { create: async () => null, get: async () => null } })
    expect((await caught(client.stepUp({ passkey: true }))).code).toBe('WEBAUTHN_UNAVAILABLE')
    expect(fake.requests.length).toBe(sent)
  })
})
