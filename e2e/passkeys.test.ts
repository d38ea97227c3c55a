/**
 * Passkeys with @tessera/client in a real browser: Debian's Chromium (playwright-core) with a
 * virtual authenticator over CDP (ctap2, internal, resident keys, user verification) registers a
 * passkey, signs out, signs in with the passkey alone, uses it as the second factor after a
 * password, deletes it, and enrols one on the way in for a role that requires a second factor.
 * The page is on http://localhost (a secure context; 127.0.0.1 is not an
 * RP id), its own origin, which the server allows as a WebAuthn origin.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { decodeJwt } from 'jose'
import { type Browser, type CDPSession, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TesseraClient } from '../packages/client/src/index.js'
import { parseConfig } from '../packages/server/src/config.js'
import { createTessera, type Tessera } from '../packages/server/src/tessera.js'
import { freshDatabase, type TestDatabase } from '../packages/server/test/helpers/database.js'
import { CHROMIUM, close, listen, pageServer } from './helpers/page-server.js'

const PASSWORD = 'correct horse battery staple'

// in CI a missing browser is a failure, not a skip
const haveBrowser = existsSync(CHROMIUM) || process.env.CI === 'true'

declare global {
  interface Window {
    tessera: TesseraClient
  }
}

describe.skipIf(!haveBrowser)('passkeys in Chromium with a virtual authenticator', () => {
  let database: TestDatabase
  let tessera: Tessera
  let page: Server
  let browser: Browser
  let tab: Page
  let cdp: CDPSession
  let authenticatorId: string
  const email = `passkey-${Date.now()}@example.com`

  /** The claims of the page's current access token. */
  const claims = async () => {
    const token = await tab.evaluate(() => window.tessera.getAccessToken())
    if (token === null) throw new Error('signed out')
    return decodeJwt(token)
  }

  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials

  beforeAll(async () => {
    page = pageServer()
    const pagePort = await listen(page)
    const probe = createServer()
    const tesseraPort = await listen(probe)
    await close(probe)
    const tesseraUrl = `http://localhost:${tesseraPort}`
    const pageOrigin = `http://localhost:${pagePort}`

    database = await freshDatabase()
    const config = parseConfig({
      DATABASE_URL: 'memory://',
      TESSERA_SECRET: 'passkey-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
      TESSERA_RATE_LIMIT: 'off',
      TESSERA_PUBLIC_URL: tesseraUrl,
      TESSERA_ALLOWED_ORIGINS: pageOrigin,
      // the page runs the ceremonies; the RP id stays the public URL's host, localhost
      TESSERA_WEBAUTHN_ORIGINS: pageOrigin,
      // admins must have a second factor: the last test enrols a passkey on the way in
      TESSERA_MFA_REQUIRED_ROLES: 'admin',
    })
    tessera = await createTessera(config, { logger: false, database: database.handle })
    await tessera.app.listen({ port: tesseraPort, host: '127.0.0.1' })

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--host-resolver-rules=MAP localhost 127.0.0.1',
      ],
    })
    const context = await browser.newContext()
    tab = await context.newPage()
    cdp = await context.newCDPSession(tab)
    await cdp.send('WebAuthn.enable')
    ;({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }))
    await tab.goto(`${pageOrigin}/?tessera=${encodeURIComponent(tesseraUrl)}`)
    expect(await tab.evaluate(() => window.ready)).toBeNull()
  })

  afterAll(async () => {
    await browser?.close()
    if (page) await close(page)
    await tessera?.close()
    await database?.drop()
  })

  it('registers a passkey after signing up (verified email, recent sign-in)', async () => {
    const registered = await tab.evaluate(
      ({ email, password }) => window.tessera.register({ email, password }),
      { email, password: PASSWORD },
    )
    expect(registered).toMatchObject({ status: 'signed-in' })
    const user = await tessera.deps.stores.users.findByEmail(email)
    if (!user) throw new Error('no user')
    await tessera.deps.stores.users.markEmailVerified(user.id, email, new Date())

    const passkey = await tab.evaluate(() => window.tessera.registerPasskey({ name: 'Chromium' }))
    expect(passkey).toMatchObject({ name: 'Chromium' })
    const stored = await credentials()
    expect(stored).toHaveLength(1)
    expect(stored[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' })
    expect(await tab.evaluate(() => window.tessera.mfaStatus())).toEqual({
      totp: false,
      passkeys: 1,
      recoveryCodesLeft: 0,
    })
  })

  it('signs out, then signs in with the passkey alone: amr hwk, user, mfa', async () => {
    await tab.evaluate(() => window.tessera.logout())
    expect(await tab.evaluate(() => window.tessera.state)).toBe('signed-out')
    const user = await tab.evaluate(() => window.tessera.signInWithPasskey())
    expect(user.email).toBe(email)
    expect(await claims()).toMatchObject({ amr: ['hwk', 'user', 'mfa'], acr: 'urn:tessera:mfa' })
    // the authenticator's counter moved on, and the server kept it
    const [credential] = await credentials()
    // CDP gives the id in base64, the browser's JSON (and so the server) in base64url
    const credentialId = Buffer.from(credential?.credentialId ?? '', 'base64').toString('base64url')
    const stored = await tessera.deps.stores.passkeys.findByCredentialId(credentialId)
    expect(stored?.counter).toBe(credential?.signCount)
    expect(stored?.counter).toBeGreaterThan(0)
  })

  it('uses the passkey as the second factor after a password', async () => {
    await tab.evaluate(() => window.tessera.logout())
    const login = await tab.evaluate(({ email, password }) => window.tessera.login({ email, password }), {
      email,
      password: PASSWORD,
    })
    expect(login).toEqual({ status: 'mfa_required', methods: ['passkey'] })
    const user = await tab.evaluate(() => window.tessera.verifyMfa({ passkey: true }))
    expect(user.email).toBe(email)
    expect(await claims()).toMatchObject({ amr: ['pwd', 'hwk', 'user', 'mfa'], acr: 'urn:tessera:mfa' })
  })

  it('steps up with the passkey, then deletes it: the password alone signs in again', async () => {
    const before = await claims()
    await tab.evaluate(() => window.tessera.stepUp({ passkey: true }))
    expect((await claims()).sid).toBe(before.sid)

    const [passkey] = await tab.evaluate(() => window.tessera.listPasskeys())
    if (!passkey) throw new Error('no passkey listed')
    await tab.evaluate((id) => window.tessera.deletePasskey(id), passkey.id)
    expect(await tab.evaluate(() => window.tessera.listPasskeys())).toEqual([])

    await tab.evaluate(() => window.tessera.logout())
    const login = await tab.evaluate(({ email, password }) => window.tessera.login({ email, password }), {
      email,
      password: PASSWORD,
    })
    expect(login).toMatchObject({ status: 'signed-in' })
    // the authenticator still holds the credential, which the server no longer knows
    await tab.evaluate(() => window.tessera.logout())
    const refused = await tab.evaluate(() =>
      window.tessera.signInWithPasskey().then(
        () => 'signed-in',
        (error: { code?: string }) => error.code,
      ),
    )
    expect(refused).toBe('PASSKEY_INVALID')
  })

  it('enrols a passkey on the way in when the role requires a second factor, and is signed in by it', async () => {
    const adminEmail = `passkey-admin-${Date.now()}@example.com`
    await tab.evaluate(({ email, password }) => window.tessera.register({ email, password }), {
      email: adminEmail,
      password: PASSWORD,
    })
    await tab.evaluate(() => window.tessera.logout())
    const admin = await tessera.deps.stores.users.findByEmail(adminEmail)
    if (!admin) throw new Error('no user')
    await tessera.deps.stores.users.markEmailVerified(admin.id, adminEmail, new Date())
    await tessera.deps.stores.users.setRoles(admin.id, ['admin'], new Date())

    const login = await tab.evaluate(({ email, password }) => window.tessera.login({ email, password }), {
      email: adminEmail,
      password: PASSWORD,
    })
    expect(login).toEqual({ status: 'mfa_enrollment_required' })
    expect(await tab.evaluate(() => window.tessera.state)).not.toBe('signed-in')
    const passkey = await tab.evaluate(() => window.tessera.registerPasskey({ name: 'On the way in' }))
    expect(passkey).toMatchObject({ name: 'On the way in' })
    expect(await tab.evaluate(() => window.tessera.state)).toBe('signed-in')
    expect(await claims()).toMatchObject({
      sub: admin.id,
      roles: ['admin'],
      amr: ['pwd', 'hwk', 'user', 'mfa'],
      acr: 'urn:tessera:mfa',
    })
  })
})
