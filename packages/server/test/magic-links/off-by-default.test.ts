import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordingMailer } from '../helpers/mail.js'
import { json, registerUser, startTestServer, type TestServer } from '../helpers/server.js'

const mailer = recordingMailer()
let server: TestServer
beforeAll(async () => {
  // TESSERA_MAGIC_LINK unset
  server = await startTestServer({}, undefined, { mailer })
})
afterAll(() => server.close())

describe('without TESSERA_MAGIC_LINK=on', () => {
  it('answers the routes and the page 404 NOT_FOUND, as unknown paths, and mails nothing', async () => {
    const user = await registerUser(server.app)
    const unknownPath = await server.app.inject({ method: 'POST', url: '/auth/no-such-route', payload: {} })
    const requests = [
      { method: 'POST', url: '/auth/magic-link', payload: { email: user.email } },
      { method: 'POST', url: '/auth/magic-link/verify', payload: { token: 'A'.repeat(43) } },
      { method: 'GET', url: '/magic-link?token=abc' },
      { method: 'GET', url: '/pages/magic-link.js' },
    ] as const
    for (const request of requests) {
      const response = await server.app.inject(request)
      expect(response.statusCode, request.url).toBe(404)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(json(response)).toEqual(json(unknownPath))
      // not even the Allow header of a known path
      expect(response.headers.allow).toBeUndefined()
    }
    expect(mailer.sent.filter((mail) => mail.kind === 'magic-link')).toHaveLength(0)
  })

  it('leaves the routes out of the OpenAPI document', async () => {
    const paths = Object.keys(
      (await server.app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>().paths,
    )
    expect(paths.some((path) => path.includes('magic-link'))).toBe(false)
  })
})

describe('with TESSERA_MAGIC_LINK=on', () => {
  it('lists both routes in the OpenAPI document, and not the page', async () => {
    const on = await startTestServer({ TESSERA_MAGIC_LINK: 'on' })
    try {
      const paths = Object.keys(
        (await on.app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>().paths,
      )
      expect(paths).toContain('/auth/magic-link')
      expect(paths).toContain('/auth/magic-link/verify')
      expect(paths).not.toContain('/magic-link')
    } finally {
      await on.close()
    }
  })
})
