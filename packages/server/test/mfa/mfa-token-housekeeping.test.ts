import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, startTestServer, type TestServer } from '../helpers/server.js'
import { codeAt, codeOf, enrolledUser, login, mfaTokenFor, verifiedUser, verify } from './mfa-helpers.js'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_HOUSEKEEPING: 'on', TESSERA_MFA_REQUIRED_ROLES: 'admin' })
})
afterAll(() => server.close())

const mfaTokenRows = () =>
  server.database.handle.db.selectFrom('mfa_tokens').select(['purpose', 'spent_at']).execute()

describe('housekeeping of second-factor sign-ins', () => {
  it('deletes mfaTokens and enrolment tokens once expired, spent or not, and keeps the live ones', async () => {
    const housekeeping = server.housekeeping
    if (!housekeeping) throw new Error('housekeeping is off')
    await housekeeping.runOnce()
    await server.database.handle.db.deleteFrom('mfa_tokens').execute()

    const user = await enrolledUser(server)
    // one spent by a right code, one left waiting
    const spent = await mfaTokenFor(server, user)
    expect((await verify(server, { mfaToken: spent, code: codeAt(user.secret, server) })).statusCode).toBe(
      200,
    )
    const waiting = await mfaTokenFor(server, user)
    // and an enrolment token (15 minutes)
    const admin = await verifiedUser(server)
    await server.deps.stores.users.setRoles(admin.userId, ['admin'], server.clock.now())
    expect(json(await login(server, admin)).status).toBe('mfa_enrollment_required')
    expect(await mfaTokenRows()).toHaveLength(3)

    // nothing has expired yet
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { mfaTokens: 0 } })
    // past 5 minutes the mfaTokens are dead, the enrolment token not yet
    server.clock.advance(301)
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { mfaTokens: 2 } })
    expect(await mfaTokenRows()).toEqual([{ purpose: 'enrol', spent_at: null }])
    const late = await verify(server, { mfaToken: waiting, code: codeAt(user.secret, server) })
    expect(codeOf(late)).toBe('MFA_TOKEN_INVALID')
    server.clock.advance(600)
    expect(await housekeeping.runOnce()).toMatchObject({ status: 'done', deleted: { mfaTokens: 1 } })
    expect(await mfaTokenRows()).toEqual([])
  })
})
