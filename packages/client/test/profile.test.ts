import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type ClientEvent,
  createClient,
  memoryStorage,
  type TesseraClient,
  TesseraClientError,
} from '../src/index.js'
import {
  expectSignedIn,
  manualClock,
  PASSWORD,
  type RunningServer,
  startServer,
  uniqueEmail,
} from './helpers/server.js'

let server: RunningServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

const open: TesseraClient[] = []
afterEach(() => {
  for (const client of open.splice(0)) client.close()
})

function bodyClient() {
  const clock = manualClock()
  const client = createClient({
    baseUrl: server.baseUrl,
    tokenDelivery: 'body',
    storage: memoryStorage(),
    now: clock.now,
  })
  open.push(client)
  const events: ClientEvent[] = []
  client.onChange((event) => events.push(event))
  return { client, events }
}

async function caught(promise: Promise<unknown>): Promise<TesseraClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraClientError)
  return error as TesseraClientError
}

/** The token of the last email-change link the server mailed to `to`. */
function confirmToken(to: string): string {
  const mail = server.mails.filter((entry) => entry.to === to && entry.kind === 'confirm-email-change').at(-1)
  const link = mail?.text.match(/https?:\/\/\S+/)?.[0]
  return link ? (new URL(link).searchParams.get('token') ?? '') : ''
}

describe('profile, email change and account deletion against the real server', () => {
  it('updateProfile changes the name and client.user', async () => {
    const { client } = bodyClient()
    await expectSignedIn(client.register({ email: uniqueEmail('profile'), password: PASSWORD }))
    const user = await client.updateProfile({ name: 'Ada' })
    expect(user.name).toBe('Ada')
    expect(user.appMetadata).toEqual({})
    expect(client.user?.name).toBe('Ada')
    expect((await client.me()).name).toBe('Ada')
  })

  it('changeEmail, then confirmEmailChange: the next call refreshes and sees the new email', async () => {
    const { client } = bodyClient()
    const email = uniqueEmail('before')
    await expectSignedIn(client.register({ email, password: PASSWORD }))
    const wrong = await caught(client.changeEmail({ newEmail: uniqueEmail(), password: 'not the password' }))
    expect(wrong.code).toBe('INVALID_CREDENTIALS')
    expect(client.state).toBe('signed-in')

    const newEmail = uniqueEmail('after')
    await client.changeEmail({ newEmail, password: PASSWORD })
    expect(server.mails.some((mail) => mail.to === email && mail.kind === 'email-change-requested')).toBe(
      true,
    )
    const token = confirmToken(newEmail)
    const anonymous = bodyClient().client
    await anonymous.confirmEmailChange({ token })
    const again = await caught(anonymous.confirmEmailChange({ token }))
    expect(again.code).toBe('ONE_TIME_TOKEN_INVALID')

    // the access token went stale: the client refreshes once and gets the new address
    expect((await client.me()).email).toBe(newEmail)
    const fresh = bodyClient().client
    await expect(fresh.login({ email: newEmail, password: PASSWORD })).resolves.toMatchObject({
      status: 'signed-in',
    })
  })

  it('deleteAccount signs out; the account is gone', async () => {
    const { client, events } = bodyClient()
    const email = uniqueEmail('gone')
    await expectSignedIn(client.register({ email, password: PASSWORD }))
    const wrong = await caught(client.deleteAccount({ password: 'not the password' }))
    expect(wrong.code).toBe('INVALID_CREDENTIALS')
    expect(client.state).toBe('signed-in')

    await client.deleteAccount({ password: PASSWORD })
    expect(client.state).toBe('signed-out')
    expect(events.at(-1)).toEqual({ type: 'signed-out', reason: 'logout' })
    const login = await caught(bodyClient().client.login({ email, password: PASSWORD }))
    expect(login.code).toBe('INVALID_CREDENTIALS')
  })
})
