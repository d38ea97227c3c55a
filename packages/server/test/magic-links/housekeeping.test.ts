import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock } from '../helpers/clock.js'
import { recordingMailer } from '../helpers/mail.js'
import { registerUser, startTestServer, type TestServer } from '../helpers/server.js'
import { mailedToken } from '../limits/limits-helpers.js'

const HOUR = 3600
const mailer = recordingMailer()
let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ TESSERA_MAGIC_LINK: 'on', TESSERA_HOUSEKEEPING: 'on' }, testClock(), {
    mailer,
  })
})
afterAll(() => server.close())

const magicLinkRows = async () =>
  server.database.handle.db
    .selectFrom('one_time_tokens')
    .select(['id', 'used_at'])
    .where('purpose', '=', 'magic_link')
    .execute()

describe('housekeeping and magic links', () => {
  it('deletes used and expired magic-link tokens once the grace (1 day) has passed', async () => {
    const housekeeping = server.housekeeping
    if (!housekeeping) throw new Error('housekeeping is off')
    const spent = await registerUser(server.app)
    const unused = await registerUser(server.app)
    for (const user of [spent, unused]) {
      await server.app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: user.email } })
    }
    const token = mailedToken(mailer, spent.email, 'magic-link')
    const used = await server.app.inject({
      method: 'POST',
      url: '/auth/magic-link/verify',
      payload: { token, tokenDelivery: 'body' },
    })
    expect(used.statusCode).toBe(200)
    expect(await magicLinkRows()).toHaveLength(2)

    // the unused one expired 15 minutes after it was mailed; the grace runs a day after that
    server.clock.advance(23 * HOUR)
    await housekeeping.runOnce()
    expect(await magicLinkRows()).toHaveLength(2)
    server.clock.advance(2 * HOUR)
    await housekeeping.runOnce()
    expect(await magicLinkRows()).toEqual([])
  })
})
