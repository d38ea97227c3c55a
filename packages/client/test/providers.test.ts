import { Secret, TOTP } from 'otpauth'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createClient, type TesseraClient, TesseraClientError } from '../src/index.js'
import { fakeTab, travel } from './helpers/browser-page.js'
import { cookieJar, recordingFetch } from './helpers/fetch.js'
import { type LocalIdp, startLocalIdp } from './helpers/local-idp.js'
import { PASSWORD, type RunningServer, startServer, uniqueEmail } from './helpers/server.js'

const APP = 'http://app.test'
const RETURN_PAGE = `${APP}/signed-in`

async function caught(promise: Promise<unknown>): Promise<TesseraClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TesseraClientError)
  return error as TesseraClientError
}

const sha256 = async (text: string) =>
  Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))).toString('base64url')

describe('sign in with a provider (a real Tessera and a real oidc-provider on 127.0.0.1)', () => {
  let idp: LocalIdp
  let server: RunningServer
  const open: TesseraClient[] = []

  beforeAll(async () => {
    idp = await startLocalIdp()
    server = await startServer({
      TESSERA_OAUTH_PROVIDERS: 'acme',
      TESSERA_OAUTH_ACME_ISSUER: idp.issuer,
      TESSERA_OAUTH_ACME_CLIENT_ID: 'tessera',
      TESSERA_OAUTH_ACME_CLIENT_SECRET: 'a-client-secret-for-tessera-0123456789',
      TESSERA_OAUTH_ACME_NAME: 'Acme ID',
      TESSERA_OAUTH_REDIRECTS: `${APP}/`,
    })
    idp.register([`${server.baseUrl}/auth/oauth/acme/callback`])
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
  })
  afterEach(() => {
    for (const client of open.splice(0)) client.close()
    vi.unstubAllGlobals()
  })

  /** A tab on the app's page, with a cookie-mode client whose cookies are the tab's. */
  function tab(page = `${APP}/login`) {
    const browser = fakeTab(page)
    browser.show()
    const jar = cookieJar()
    const recorded = recordingFetch(jar.fetch)
    const client = createClient({
      baseUrl: server.baseUrl,
      tokenDelivery: 'cookie',
      crossTab: false,
      fetch: recorded.fetch,
    })
    open.push(client)
    /** Follows where the client sent the browser, through the provider as `login`, back to the app. */
    const goThrough = async (login: string) => {
      const started = browser.assigned.at(-1)
      if (!started) throw new Error('the client sent the browser nowhere')
      const back = await travel(started, { tessera: server.baseUrl, tesseraFetch: jar.fetch, login })
      browser.arrive(back)
      return back
    }
    return { browser, jar, client, recorded, goThrough }
  }

  it('lists the providers without a session', async () => {
    const { client } = tab()
    expect(await client.listProviders()).toEqual([{ id: 'acme', name: 'Acme ID' }])
  })

  it('code mode: start with an S256 challenge, the provider, #code=, exchange: signed in, the code gone from the URL and the verifier from storage', async () => {
    idp.accounts.set('grace', { email: uniqueEmail('grace'), email_verified: true, name: 'Grace' })
    const { browser, client, recorded, goThrough } = tab()

    await client.signInWith('acme', { redirectTo: '/signed-in?from=login' })

    const start = new URL(browser.assigned[0] ?? '')
    expect(`${start.origin}${start.pathname}`).toBe(`${server.baseUrl}/auth/oauth/acme/start`)
    expect(start.searchParams.get('redirectTo')).toBe(`${RETURN_PAGE}?from=login`)
    expect(start.searchParams.get('mode')).toBe('code')
    const [key, kept] = [...browser.storage][0] ?? []
    expect(key).toBe(`tessera:oauth:${server.baseUrl}`)
    const { codeVerifier } = JSON.parse(kept ?? '{}')
    expect(codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(start.searchParams.get('codeChallenge')).toBe(await sha256(codeVerifier))

    const back = await goThrough('grace')
    expect(back).toMatch(new RegExp(`^${RETURN_PAGE}\\?from=login#code=`))

    const result = await client.completeSignIn()
    expect(result).toMatchObject({ status: 'signed-in', user: { name: 'Grace', emailVerified: true } })
    expect(client.state).toBe('signed-in')
    expect(browser.location.href).toBe(`${RETURN_PAGE}?from=login`)
    expect(browser.storage.size).toBe(0)
    const [exchange] = recorded.to('/auth/oauth/exchange')
    expect(JSON.parse(exchange?.body ?? '{}')).toEqual({
      code: new URL(back).hash.slice('#code='.length),
      codeVerifier,
      tokenDelivery: 'cookie',
    })
    expect(exchange?.credentials).toBe('include')
    // the session is a real one: the refresh cookie brings it back, and the API knows the user
    expect((await client.me()).name).toBe('Grace')
    // a reload of the return page has nothing left to complete
    expect(await client.completeSignIn()).toBeNull()
    expect(recorded.to('/auth/oauth/exchange')).toHaveLength(1)
  })

  it("a code taken to another tab signs in nobody: that tab's verifier is not the code's", async () => {
    idp.accounts.set('heidi', { email: uniqueEmail('heidi'), email_verified: true })
    const first = tab()
    await first.client.signInWith('acme', { redirectTo: RETURN_PAGE })
    const back = await first.goThrough('heidi')

    // another tab (its own sessionStorage) with a sign-in of its own, handed the first tab's URL
    const other = tab()
    await other.client.signInWith('acme', { redirectTo: RETURN_PAGE })
    other.browser.arrive(back)
    const error = await caught(other.client.completeSignIn())
    expect(error.code).toBe('ONE_TIME_TOKEN_INVALID')
    expect(other.client.state).not.toBe('signed-in')
    expect(other.browser.location.hash).toBe('')
  })

  it('cookie mode: the callback sets the refresh cookie and returns without a code; completeSignIn restores by it', async () => {
    const email = uniqueEmail('ivan')
    idp.accounts.set('ivan', { email, email_verified: true })
    const { browser, client, jar, recorded, goThrough } = tab()

    await client.signInWith('acme', { redirectTo: RETURN_PAGE, mode: 'cookie' })
    expect(new URL(browser.assigned[0] ?? '').searchParams.get('mode')).toBe('cookie')
    const back = await goThrough('ivan')

    expect(back).toBe(RETURN_PAGE)
    expect(jar.cookies.has('tessera_refresh')).toBe(true)
    const result = await client.completeSignIn()
    expect(result).toMatchObject({ status: 'signed-in', user: { email } })
    expect(recorded.to('/auth/oauth/exchange')).toHaveLength(0)
    expect(recorded.to('/auth/refresh')).toHaveLength(1)
    expect(browser.storage.size).toBe(0)
  })

  it('cookie mode finishes only on its return page; without the cookie arriving (another site) NOT_SIGNED_IN', async () => {
    const { browser, client, recorded } = tab()
    await client.signInWith('acme', { redirectTo: RETURN_PAGE, mode: 'cookie' })
    // back from the provider with the back button: the sign-in page, nothing to finish here
    browser.arrive(`${APP}/login`)
    expect(await client.completeSignIn()).toBeNull()
    expect(recorded.requests).toHaveLength(0)
    browser.arrive(RETURN_PAGE)
    expect((await caught(client.completeSignIn())).code).toBe('NOT_SIGNED_IN')
  })

  it('#error=ACCOUNT_EXISTS (an unverified local account with the email) rejects with that code and clears the URL', async () => {
    const email = uniqueEmail('judy')
    const owner = tab()
    await owner.client.register({ email, password: PASSWORD })
    idp.accounts.set('judy', { email, email_verified: true })
    const { browser, client, recorded, goThrough } = tab()

    await client.signInWith('acme', { redirectTo: RETURN_PAGE })
    expect(await goThrough('judy')).toBe(`${RETURN_PAGE}#error=ACCOUNT_EXISTS`)

    const error = await caught(client.completeSignIn())
    expect(error.code).toBe('ACCOUNT_EXISTS')
    expect(error.retryable).toBe(false)
    expect(browser.location.href).toBe(RETURN_PAGE)
    expect(browser.storage.size).toBe(0)
    expect(recorded.to('/auth/oauth/exchange')).toHaveLength(0)
    expect(client.state).not.toBe('signed-in')
  })

  it('an error code this client does not know becomes PROVIDER_SIGN_IN_FAILED with the code in detail', async () => {
    const { browser, client } = tab()
    await client.signInWith('acme', { redirectTo: RETURN_PAGE })
    browser.arrive(`${RETURN_PAGE}#error=SOMETHING_NEW`)
    const error = await caught(client.completeSignIn())
    expect(error.code).toBe('PROVIDER_SIGN_IN_FAILED')
    expect(error.detail).toContain('SOMETHING_NEW')
  })

  it('leaves a page alone that is not the return of a sign-in started in this tab', async () => {
    const { browser, client, recorded } = tab(`${RETURN_PAGE}#code=not-ours`)
    expect(await client.completeSignIn()).toBeNull()
    expect(await client.completeLink()).toBeNull()
    expect(browser.location.hash).toBe('#code=not-ours')
    expect(recorded.requests).toHaveLength(0)
  })

  it('refuses cookie mode in body delivery, and a page without browser globals', async () => {
    fakeTab(`${APP}/login`).show()
    const body = createClient({ baseUrl: server.baseUrl, tokenDelivery: 'body' })
    open.push(body)
    await expect(body.signInWith('acme', { redirectTo: RETURN_PAGE, mode: 'cookie' })).rejects.toThrow(
      TypeError,
    )
    vi.unstubAllGlobals()
    await expect(body.signInWith('acme', { redirectTo: RETURN_PAGE })).rejects.toThrow(/browser page/)
  })

  it('an account with a second factor: completeSignIn resolves mfa_required, verifyMfa finishes', async () => {
    const email = uniqueEmail('nina')
    idp.accounts.set('nina', { email, email_verified: true })
    const { client, goThrough, browser } = tab()
    await client.signInWith('acme', { redirectTo: RETURN_PAGE })
    await goThrough('nina')
    expect(await client.completeSignIn()).toMatchObject({ status: 'signed-in' })
    const setup = await client.setupTotp()
    const code = new TOTP({ secret: Secret.fromBase32(setup.secret), digits: 6, period: 30 }).generate({
      timestamp: server.tessera.deps.clock.now().getTime(),
    })
    const { recoveryCodes } = await client.confirmTotp(code)
    await client.logout()

    browser.arrive(`${APP}/login`)
    await client.signInWith('acme', { redirectTo: RETURN_PAGE })
    await goThrough('nina')
    expect(await client.completeSignIn()).toEqual({
      status: 'mfa_required',
      methods: ['totp', 'recovery_code'],
    })
    expect(client.state).not.toBe('signed-in')
    const user = await client.verifyMfa({ recoveryCode: recoveryCodes[0] ?? '' })
    expect(user.email).toBe(email)
    expect(client.state).toBe('signed-in')
  })

  it('links the provider to a password account, which then signs in with it; unlinks it again', async () => {
    const email = uniqueEmail('kim')
    const { browser, client, recorded, goThrough } = tab(`${APP}/settings`)
    await client.register({ email, password: PASSWORD })
    idp.accounts.set('kim-at-acme', { email: uniqueEmail('kim-work'), email_verified: false })

    await client.linkProvider('acme', { redirectTo: '/settings' })
    const [started] = recorded.to('/auth/oauth/acme/link')
    expect(started?.credentials).toBe('include')
    expect(started?.headers.get('authorization')).toMatch(/^Bearer /)
    expect(browser.assigned[0]).toMatch(new RegExp(`^${idp.issuer}/`))
    const back = await goThrough('kim-at-acme')
    expect(back).toMatch(new RegExp(`^${APP}/settings#code=`))

    const identity = await client.completeLink()
    expect(identity).toMatchObject({ provider: 'acme' })
    expect(browser.location.href).toBe(`${APP}/settings`)
    expect(browser.storage.size).toBe(0)
    expect(await client.completeLink()).toBeNull()
    expect(await client.listIdentities()).toEqual([identity])

    // signed out, the provider alone signs in to the same account
    await client.logout()
    browser.arrive(`${APP}/login`)
    await client.signInWith('acme', { redirectTo: RETURN_PAGE })
    await goThrough('kim-at-acme')
    expect(await client.completeSignIn()).toMatchObject({ status: 'signed-in', user: { email } })

    await client.unlinkIdentity(identity?.id ?? '')
    expect(await client.listIdentities()).toEqual([])
    const gone = await caught(client.unlinkIdentity(identity?.id ?? ''))
    expect(gone.code).toBe('NOT_FOUND')
  })

  it('an identity of another account comes back as #error=ACCOUNT_EXISTS from completeLink', async () => {
    const first = tab()
    await first.client.register({ email: uniqueEmail('lee'), password: PASSWORD })
    idp.accounts.set('lee-at-acme', { email: uniqueEmail('lee-acme'), email_verified: true })
    await first.client.linkProvider('acme', { redirectTo: RETURN_PAGE })
    await first.goThrough('lee-at-acme')
    await first.client.completeLink()

    const second = tab()
    await second.client.register({ email: uniqueEmail('mallory'), password: PASSWORD })
    await second.client.linkProvider('acme', { redirectTo: RETURN_PAGE })
    await second.goThrough('lee-at-acme')
    expect((await caught(second.client.completeLink())).code).toBe('ACCOUNT_EXISTS')
    expect(await second.client.listIdentities()).toEqual([])
  })
})
