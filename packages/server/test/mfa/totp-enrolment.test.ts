import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordingMailer } from '../helpers/mail.js'
import { bearer, json, registerUser, startTestServer, type TestServer } from '../helpers/server.js'
import { claimsOf, codeAt, codeOf, enrolledUser, post, verifiedUser } from './mfa-helpers.js'

let server: TestServer
const mailer = recordingMailer()
beforeAll(async () => {
  server = await startTestServer({}, undefined, { mailer })
})
afterAll(() => server.close())

describe('TOTP enrolment', () => {
  it('sets up a secret with its otpauth URI and QR code, confirms it with a code and answers 10 recovery codes', async () => {
    const user = await verifiedUser(server)
    const setup = await post(server, '/auth/mfa/totp/setup', {}, user.accessToken)
    expect(setup.statusCode).toBe(200)
    expect(setup.headers['cache-control']).toBe('no-store')
    const body = json<{ secret: string; otpauthUri: string; qrSvg: string }>(setup)
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/)
    expect(body.otpauthUri).toMatch(/^otpauth:\/\/totp\/Tessera:/)
    expect(body.otpauthUri).toContain(`secret=${body.secret}`)
    expect(body.qrSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/)

    // pending: not on until confirmed
    const before = await server.app.inject({
      method: 'GET',
      url: '/auth/mfa',
      headers: bearer(user.accessToken),
    })
    expect(json(before)).toEqual({ totp: false, passkeys: 0, recoveryCodesLeft: 0 })

    const wrong = await post(server, '/auth/mfa/totp/confirm', { code: '000000' }, user.accessToken)
    expect(wrong.statusCode).toBe(401)
    expect(codeOf(wrong)).toBe('MFA_CODE_INVALID')

    const sentBefore = mailer.sent.length
    const confirm = await post(
      server,
      '/auth/mfa/totp/confirm',
      { code: codeAt(body.secret, server) },
      user.accessToken,
    )
    expect(confirm.statusCode).toBe(200)
    const { recoveryCodes } = json<{ recoveryCodes: string[] }>(confirm)
    expect(recoveryCodes).toHaveLength(10)
    expect(new Set(recoveryCodes).size).toBe(10)
    for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/)
    expect(mailer.sent.slice(sentBefore)).toEqual([
      expect.objectContaining({ to: user.email, kind: 'mfa-enabled' }),
    ])

    const after = await server.app.inject({
      method: 'GET',
      url: '/auth/mfa',
      headers: bearer(user.accessToken),
    })
    expect(json(after)).toEqual({ totp: true, passkeys: 0, recoveryCodesLeft: 10 })

    // a second setup once on
    const again = await post(server, '/auth/mfa/totp/setup', {}, user.accessToken)
    expect(again.statusCode).toBe(409)
    expect(codeOf(again)).toBe('TOTP_ALREADY_ENABLED')
  })

  it('keeps the secret encrypted in the database and the recovery codes only as hashes', async () => {
    const user = await enrolledUser(server)
    const db = server.database.handle.db
    const totp = await sql<{
      secret_sealed: string
    }>`select secret_sealed from totp_factors where user_id = ${user.userId}`.execute(db)
    const sealed = totp.rows[0]?.secret_sealed ?? ''
    expect(sealed).not.toContain(user.secret)
    expect(sealed.split('.')).toHaveLength(5) // a compact JWE
    const codes = await sql<{
      code_hash: Uint8Array
    }>`select code_hash from recovery_codes where user_id = ${user.userId}`.execute(db)
    expect(codes.rows).toHaveLength(10)
    const stored = codes.rows.map((row) => Buffer.from(row.code_hash).toString('latin1')).join('')
    for (const code of user.recoveryCodes) expect(stored).not.toContain(code)
  })

  it('refuses enrolment for an unverified email with 403 EMAIL_NOT_VERIFIED', async () => {
    const user = await registerUser(server.app)
    const setup = await post(server, '/auth/mfa/totp/setup', {}, user.accessToken)
    expect(setup.statusCode).toBe(403)
    expect(codeOf(setup)).toBe('EMAIL_NOT_VERIFIED')
  })

  it('refuses enrolment after an old sign-in with 401 STEP_UP_REQUIRED and the RFC 9470 challenge', async () => {
    const user = await verifiedUser(server)
    server.clock.advance(301)
    const setup = await post(server, '/auth/mfa/totp/setup', {}, user.accessToken)
    expect(setup.statusCode).toBe(401)
    expect(codeOf(setup)).toBe('STEP_UP_REQUIRED')
    expect(setup.headers['www-authenticate']).toMatch(/^Bearer .*error="insufficient_user_authentication"/)
    expect(setup.headers['www-authenticate']).toContain('max_age="300"')
    // a password step-up makes it recent again, for the same session
    const stepUp = await post(server, '/auth/mfa/step-up', { password: user.password }, user.accessToken)
    expect(stepUp.statusCode).toBe(200)
    const { accessToken } = json<{ accessToken: string }>(stepUp)
    expect(claimsOf(accessToken).sid).toBe(claimsOf(user.accessToken).sid)
    expect((await post(server, '/auth/mfa/totp/setup', {}, accessToken)).statusCode).toBe(200)
  })

  it('turns TOTP off with a recent sign-in and a current code, voiding the recovery codes', async () => {
    const user = await enrolledUser(server)
    const step = await post(
      server,
      '/auth/mfa/step-up',
      { code: codeAt(user.secret, server) },
      user.accessToken,
    )
    expect(step.statusCode).toBe(200)
    const { accessToken } = json<{ accessToken: string }>(step)
    server.clock.advance(30)
    const wrong = await server.app.inject({
      method: 'DELETE',
      url: '/auth/mfa/totp',
      headers: bearer(accessToken),
      payload: { code: '123456' },
    })
    expect(codeOf(wrong)).toBe('MFA_CODE_INVALID')
    const off = await server.app.inject({
      method: 'DELETE',
      url: '/auth/mfa/totp',
      headers: bearer(accessToken),
      payload: { code: codeAt(user.secret, server) },
    })
    expect(off.statusCode).toBe(204)
    const status = await server.app.inject({ method: 'GET', url: '/auth/mfa', headers: bearer(accessToken) })
    expect(json(status)).toEqual({ totp: false, passkeys: 0, recoveryCodesLeft: 0 })
  })

  it('renews the recovery codes with a current code: the old ones are void', async () => {
    const user = await enrolledUser(server)
    // enrolment took one step: the sign-in is still recent
    const renewed = await post(
      server,
      '/auth/mfa/recovery-codes',
      { code: codeAt(user.secret, server) },
      user.accessToken,
    )
    expect(renewed.statusCode).toBe(200)
    const { recoveryCodes } = json<{ recoveryCodes: string[] }>(renewed)
    expect(recoveryCodes).toHaveLength(10)
    expect(recoveryCodes).not.toContain(user.recoveryCodes[0])
  })
})
