import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock } from '../helpers/clock.js'
import type { TestServer } from '../helpers/server.js'
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhooks.js'
import {
  appPkce,
  type LocalIdp,
  providerEnv,
  signInWithIdp,
  startLocalIdp,
  startTestServer,
} from '../providers/provider-helpers.js'

describe('webhook events of a provider sign-in (a real oidc-provider on 127.0.0.1)', () => {
  let idp: LocalIdp
  let server: TestServer
  let receiver: WebhookReceiver

  beforeAll(async () => {
    const secret = newWebhookSecret()
    const clock = testClock()
    receiver = await startWebhookReceiver(secret, () => clock.now())
    idp = await startLocalIdp()
    server = await startTestServer(
      { ...providerEnv(idp), TESSERA_WEBHOOK_URL: receiver.url, TESSERA_WEBHOOK_SECRET: secret },
      clock,
    )
  })
  afterAll(async () => {
    await server?.close()
    await idp?.close()
    await receiver?.stop()
  })

  it('sends user.created, verified as the provider says, with the session of the first sign-in', async () => {
    idp.accounts.set('new-verified', { email: 'hooked@example.com', email_verified: true })
    const { codeVerifier, codeChallenge } = await appPkce()
    const { location } = await signInWithIdp(server, 'new-verified', { mode: 'code', codeChallenge })
    const code = new URLSearchParams(new URL(location).hash.slice(1)).get('code') ?? ''
    const exchanged = await server.app.inject({
      method: 'POST',
      url: '/auth/oauth/exchange',
      payload: { code, codeVerifier, tokenDelivery: 'body' },
    })
    expect(exchanged.statusCode).toBe(200)
    await server.webhooks?.deliverDue()
    const events = receiver.accepted()
    expect(events.find((event) => event.type === 'user.created')?.data).toMatchObject({
      user: { email: 'hooked@example.com', emailVerified: true, roles: ['user'] },
      via: 'acme',
    })
    expect(events.find((event) => event.type === 'session.created')?.data).toMatchObject({ amr: ['fed'] })
    // one event each: an account created and verified in one step is one user.created
    expect(events.map((event) => event.type).sort()).toEqual(['session.created', 'user.created'])
  })
})
