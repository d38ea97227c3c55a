import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { changeRoles } from '../../src/flows/manage-users.js'
import {
  bearer,
  json,
  PASSWORD,
  type Registered,
  refreshWith,
  registerUser,
  startTestServer,
  type TestServer,
  uniqueEmail,
} from '../helpers/server.js'
import { newClient, serviceToken } from '../oauth/oauth-helpers.js'

interface AdminUser {
  id: string
  email: string
  name: string | null
  roles: string[]
  emailVerified: boolean
  appMetadata: Record<string, unknown>
  disabledAt: string | null
  lastLoginAt: string | null
}
interface UserPage {
  users: AdminUser[]
  nextCursor: string | null
}
interface AuditEvent {
  id: string
  type: string
  userId: string | null
  detail: Record<string, unknown>
  createdAt: string
}
interface AuditPage {
  events: AuditEvent[]
  nextCursor: string | null
}

let server: TestServer
let admin: Registered & { token: string }

beforeAll(async () => {
  server = await startTestServer()
  const registered = await registerUser(server.app, uniqueEmail('admin'))
  await changeRoles(server.deps, registered.email, { add: ['admin'], remove: [] })
  // the role change made the token stale: the refresh gets one with the role
  const refreshed = await refreshWith(server.app, registered.refreshToken)
  expect(refreshed.statusCode).toBe(200)
  const body = json<{ accessToken: string; refreshToken: string }>(refreshed)
  admin = { ...registered, token: body.accessToken, refreshToken: body.refreshToken }
})
afterAll(() => server.close())

const get = (url: string, token = admin.token) =>
  server.app.inject({ method: 'GET', url, headers: bearer(token) })
const send = (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, token = admin.token) =>
  server.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload }) })

/** The audit rows written after the answer: polled until `count` of `type` for the user are there. */
async function auditOf(userId: string, type: string, count = 1): Promise<AuditEvent[]> {
  return vi.waitFor(
    async () => {
      const response = await get(`/admin/audit?userId=${userId}&type=${encodeURIComponent(type)}&limit=200`)
      expect(response.statusCode).toBe(200)
      const { events } = json<AuditPage>(response)
      if (events.length < count) throw new Error(`${events.length} ${type} events yet`)
      return events
    },
    { timeout: 5000, interval: 20 },
  )
}

describe('admin API: users', () => {
  it('lists and pages through more users than a page, with no duplicate or gap, stable while users are added', async () => {
    const tag = `pager${Date.now()}`
    const made: string[] = []
    for (let i = 0; i < 7; i++) {
      const user = await registerUser(server.app, `${tag}-${i}@example.com`)
      made.push(user.userId)
      // distinct creation times, so the order is the keyset's
      server.clock.advance(1)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const url: string = `/admin/users?query=${tag}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
      const response = await get(url)
      expect(response.statusCode).toBe(200)
      expect(response.headers['cache-control']).toBe('no-store')
      const page = json<UserPage>(response)
      expect(page.users.length).toBeLessThanOrEqual(3)
      seen.push(...page.users.map((user) => user.id))
      cursor = page.nextCursor
      pages++
      // a user added while paging comes at the end, after the pages already read
      if (pages === 1) await registerUser(server.app, `${tag}-late@example.com`)
    } while (cursor !== null)
    expect(seen.slice(0, 7)).toEqual(made)
    expect(seen).toHaveLength(8)
    expect(new Set(seen).size).toBe(8)
    expect(pages).toBe(3)
    const first = json<UserPage>(await get(`/admin/users?query=${tag}&limit=3`)).users[0]
    expect(first).toMatchObject({ email: `${tag}-0@example.com`, disabledAt: null, appMetadata: {} })
    expect(first).not.toHaveProperty('passwordHash')
    // the registration signed in: that is the last sign-in
    expect(first?.lastLoginAt).not.toBeNull()
  })

  it('defaults to 50 a page, refuses a limit over 200, a forged cursor and an unknown parameter', async () => {
    expect(json<UserPage>(await get('/admin/users')).users.length).toBeLessThanOrEqual(50)
    for (const query of ['limit=201', 'limit=0', 'limit=abc', 'cursor=bm90LWEtY3Vyc29y', 'sort=email']) {
      const response = await get(`/admin/users?${query}`)
      expect(response.statusCode, query).toBe(400)
      expect(json(response).code, query).toBe('VALIDATION_FAILED')
    }
    const forged = Buffer.from(JSON.stringify(['2026-02-30 00:00:00+00', admin.userId])).toString('base64url')
    expect((await get(`/admin/users?cursor=${forged}`)).statusCode).toBe(400)
  })

  it('searches by email prefix and name substring, and filters by role and status', async () => {
    const tag = `find${Date.now()}`
    const ada = await registerUser(server.app, `${tag}-ada@example.com`)
    server.clock.advance(1)
    const bob = await registerUser(server.app, `${tag}-bob@example.com`)
    expect(
      (
        await send('PATCH', `/admin/users/${ada.userId}`, {
          name: 'Ada Lovelace',
          roles: ['user', 'auditor'],
        })
      ).statusCode,
    ).toBe(200)
    expect((await send('POST', `/admin/users/${bob.userId}/disable`)).statusCode).toBe(204)

    const ids = async (query: string) =>
      json<UserPage>(await get(`/admin/users?${query}`)).users.map((user) => user.id)
    expect(await ids(`query=${tag.toUpperCase()}`)).toEqual([ada.userId, bob.userId])
    expect(await ids('query=lovelace')).toEqual([ada.userId])
    // a substring of the email that is not a prefix does not match
    expect(await ids(`query=ada@example`)).toEqual([])
    expect(await ids(`query=${tag}&role=auditor`)).toEqual([ada.userId])
    expect(await ids(`query=${tag}&status=disabled`)).toEqual([bob.userId])
    expect(await ids(`query=${tag}&status=active`)).toEqual([ada.userId])
    // LIKE's wildcards are searched for literally
    expect(await ids('query=%25')).toEqual([])
  })

  it('disables a user: its sessions die (refresh fails, its access token is TOKEN_REVOKED), login is refused; enable lets it log in', async () => {
    const user = await registerUser(server.app)
    expect((await send('POST', `/admin/users/${user.userId}/disable`)).statusCode).toBe(204)
    const me = await get('/auth/me', user.accessToken)
    expect(me.statusCode).toBe(401)
    expect(json(me).code).toBe('TOKEN_REVOKED')
    const refresh = await refreshWith(server.app, user.refreshToken)
    expect(refresh.statusCode).toBe(401)
    expect(json(refresh).code).toBe('REFRESH_TOKEN_INVALID')
    const login = () =>
      server.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: PASSWORD },
      })
    expect(json(await login()).code).toBe('ACCOUNT_DISABLED')
    const detail = json<{ user: AdminUser }>(await get(`/admin/users/${user.userId}`)).user
    expect(detail.disabledAt).toBe(server.clock.now().toISOString())

    expect((await send('POST', `/admin/users/${user.userId}/enable`)).statusCode).toBe(204)
    expect((await login()).statusCode).toBe(200)
    const [disabled] = await auditOf(user.userId, 'user.disabled')
    expect(disabled?.detail).toMatchObject({ actor: admin.userId, sessionsRevoked: 1 })
    const [enabled] = await auditOf(user.userId, 'user.enabled')
    expect(enabled?.detail).toMatchObject({ actor: admin.userId })
  })

  it('changes roles: the old token is stale, a refreshed one has the new roles', async () => {
    const user = await registerUser(server.app)
    const before = await server.deps.stores.revocationEvents.lastId()
    const patch = await send('PATCH', `/admin/users/${user.userId}`, { roles: ['user', 'editor'] })
    expect(patch.statusCode).toBe(200)
    expect(json<{ user: AdminUser }>(patch).user.roles).toEqual(['user', 'editor'])
    // services following the revocation feed hear of it too
    const events = await server.deps.stores.revocationEvents.listAfter(before, 100)
    expect(events.filter((event) => event.kind === 'user' && event.sub === user.userId)).toHaveLength(1)
    expect(json(await get('/auth/me', user.accessToken)).code).toBe('TOKEN_REVOKED')
    const refreshed = json<{ accessToken: string }>(await refreshWith(server.app, user.refreshToken))
    expect(decodeJwt(refreshed.accessToken).roles).toEqual(['user', 'editor'])
    expect((await get('/auth/me', refreshed.accessToken)).statusCode).toBe(200)
    const [updated] = await auditOf(user.userId, 'user.updated')
    expect(updated?.detail).toMatchObject({ actor: admin.userId, fields: 'roles' })
    // a bad role name is refused
    const bad = await send('PATCH', `/admin/users/${user.userId}`, { roles: ['no spaces'] })
    expect(bad.statusCode).toBe(400)
  })

  it('sets app metadata: in the user object and as `app` in a refreshed access token; over 2 KiB refused', async () => {
    const user = await registerUser(server.app)
    expect(decodeJwt(user.accessToken)).not.toHaveProperty('app')
    const appMetadata = { plan: 'pro', tenant: 't-42', limits: { seats: 5 } }
    const patch = await send('PATCH', `/admin/users/${user.userId}`, { appMetadata })
    expect(json<{ user: AdminUser }>(patch).user.appMetadata).toEqual(appMetadata)
    expect(json(await get('/auth/me', user.accessToken)).code).toBe('TOKEN_REVOKED')
    const refreshed = json<{ accessToken: string; refreshToken: string }>(
      await refreshWith(server.app, user.refreshToken),
    )
    expect(decodeJwt(refreshed.accessToken).app).toEqual(appMetadata)
    const me = json<{ user: AdminUser }>(await get('/auth/me', refreshed.accessToken))
    expect(me.user.appMetadata).toEqual(appMetadata)

    const tooBig = await send('PATCH', `/admin/users/${user.userId}`, {
      appMetadata: { blob: 'x'.repeat(2048) },
    })
    expect(tooBig.statusCode).toBe(400)
    expect(json<{ code: string; errors: { field: string }[] }>(tooBig).errors[0]?.field).toBe('appMetadata')
    for (const notAnObject of [[1, 2], 'text', null]) {
      const response = await send('PATCH', `/admin/users/${user.userId}`, { appMetadata: notAnObject })
      expect(response.statusCode).toBe(400)
    }
    // strings PostgreSQL's jsonb cannot hold: a 400 naming the field, not a 500
    for (const unstorable of [{ note: 'a\u0000b' }, { ['\u0000key']: 1 }, { deep: ['\ud800'] }]) {
      const response = await send('PATCH', `/admin/users/${user.userId}`, { appMetadata: unstorable })
      expect(response.statusCode).toBe(400)
      expect(json<{ code: string; errors: { field: string }[] }>(response)).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ field: expect.stringMatching(/^appMetadata/) }],
      })
    }
    // unchanged by the refused attempts; emptied again, the claim goes away
    expect(json<{ user: AdminUser }>(await get(`/admin/users/${user.userId}`)).user.appMetadata).toEqual(
      appMetadata,
    )
    await send('PATCH', `/admin/users/${user.userId}`, { appMetadata: {} })
    const again = json<{ accessToken: string }>(await refreshWith(server.app, refreshed.refreshToken))
    expect(decodeJwt(again.accessToken)).not.toHaveProperty('app')
    // a user cannot set it: PATCH /auth/me takes the name only
    const self = await send(
      'PATCH',
      '/auth/me',
      { name: 'x', appMetadata: { plan: 'free' } },
      again.accessToken,
    )
    expect(self.statusCode).toBe(400)
  })

  it('creates users: with a password it logs in; a taken email is 409; the detail has mfa and identities', async () => {
    const email = uniqueEmail('created')
    const created = await send('POST', '/admin/users', {
      email,
      name: 'Grace',
      roles: ['user', 'ops'],
      password: PASSWORD,
      emailVerified: true,
      appMetadata: { plan: 'team' },
    })
    expect(created.statusCode).toBe(201)
    const user = json<{ user: AdminUser }>(created).user
    expect(user).toMatchObject({
      email,
      name: 'Grace',
      roles: ['user', 'ops'],
      emailVerified: true,
      lastLoginAt: null,
    })
    const login = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email, password: PASSWORD },
    })
    expect(login.statusCode).toBe(200)
    expect(decodeJwt(json<{ accessToken: string }>(login).accessToken).app).toEqual({ plan: 'team' })

    const detail = json<{ user: AdminUser & { mfa: unknown; identities: unknown[] } }>(
      await get(`/admin/users/${user.id}`),
    ).user
    expect(detail.mfa).toEqual({ totp: false, passkeys: 0, recoveryCodesLeft: 0 })
    expect(detail.identities).toEqual([])
    expect(detail.lastLoginAt).toBe(server.clock.now().toISOString())

    const taken = await send('POST', '/admin/users', { email: email.toUpperCase() })
    expect(taken.statusCode).toBe(409)
    expect(json(taken).code).toBe('EMAIL_TAKEN')
    const weak = await send('POST', '/admin/users', { email: uniqueEmail(), password: 'password' })
    expect(json(weak).code).toBe('WEAK_PASSWORD')
    const [audit] = await auditOf(user.id, 'user.created')
    expect(audit?.detail).toMatchObject({ actor: admin.userId, invited: false })
  })

  it('changes an email (unverified unless said), refusing one another account has', async () => {
    const user = await registerUser(server.app)
    const other = await registerUser(server.app)
    const taken = await send('PATCH', `/admin/users/${user.userId}`, { email: other.email })
    expect(taken.statusCode).toBe(409)
    const email = uniqueEmail('moved')
    const moved = json<{ user: AdminUser }>(await send('PATCH', `/admin/users/${user.userId}`, { email }))
    expect(moved.user).toMatchObject({ email, emailVerified: false })
    const refreshed = json<{ accessToken: string }>(await refreshWith(server.app, user.refreshToken))
    expect(decodeJwt(refreshed.accessToken).email).toBe(email)
    // the same mailbox written differently stays verified; another one does not
    await send('PATCH', `/admin/users/${user.userId}`, { emailVerified: true })
    const recased = json<{ user: AdminUser }>(
      await send('PATCH', `/admin/users/${user.userId}`, { email: email.toUpperCase() }),
    )
    expect(recased.user).toMatchObject({ email: email.toUpperCase(), emailVerified: true })
    const another = json<{ user: AdminUser }>(
      await send('PATCH', `/admin/users/${user.userId}`, { email: uniqueEmail('another') }),
    )
    expect(another.user.emailVerified).toBe(false)
  })

  it('lists and revokes the sessions of a user; resets its second factors; deletes it', async () => {
    const user = await registerUser(server.app)
    await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD },
    })
    const sessions = json<{ sessions: { id: string; current: boolean }[] }>(
      await get(`/admin/users/${user.userId}/sessions`),
    ).sessions
    expect(sessions).toHaveLength(2)
    expect(sessions.every((session) => session.current === false)).toBe(true)
    expect((await send('DELETE', `/admin/users/${user.userId}/sessions`)).statusCode).toBe(204)
    expect(json<{ sessions: unknown[] }>(await get(`/admin/users/${user.userId}/sessions`)).sessions).toEqual(
      [],
    )
    expect(json(await get('/auth/me', user.accessToken)).code).toBe('TOKEN_REVOKED')
    expect((await refreshWith(server.app, user.refreshToken)).statusCode).toBe(401)
    const [revoked] = await auditOf(user.userId, 'session.revoked')
    expect(revoked?.detail).toMatchObject({ actor: admin.userId, sessions: 2 })

    expect((await send('POST', `/admin/users/${user.userId}/mfa/reset`)).statusCode).toBe(204)
    const [reset] = await auditOf(user.userId, 'mfa.disabled')
    expect(reset?.detail).toMatchObject({ actor: admin.userId, reset: true, totp: false })

    expect((await send('DELETE', `/admin/users/${user.userId}`)).statusCode).toBe(204)
    expect((await get(`/admin/users/${user.userId}`)).statusCode).toBe(404)
    expect((await send('DELETE', `/admin/users/${user.userId}`)).statusCode).toBe(404)
    const [deleted] = await auditOf(user.userId, 'user.deleted')
    expect(deleted?.detail).toMatchObject({ actor: admin.userId })
  })
})

describe('admin API: audit log', () => {
  it('filters by user and type and pages newest first', async () => {
    const user = await registerUser(server.app)
    for (let i = 0; i < 5; i++) {
      server.clock.advance(1)
      await send('PATCH', `/admin/users/${user.userId}`, { name: `Name ${i}` })
    }
    await auditOf(user.userId, 'user.updated', 5)
    const names: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const url: string = `/admin/audit?userId=${user.userId}&type=user.updated&limit=2${cursor ? `&cursor=${cursor}` : ''}`
      const page = json<AuditPage>(await get(url))
      for (const event of page.events) {
        expect(event).toMatchObject({ type: 'user.updated', userId: user.userId })
        names.push(event.createdAt)
      }
      cursor = page.nextCursor
      pages++
    } while (cursor !== null)
    expect(pages).toBe(3)
    expect(names).toHaveLength(5)
    expect([...names].sort().reverse()).toEqual(names)
    // the register event of the same user is left out by the type filter, kept without it
    const all = json<AuditPage>(await get(`/admin/audit?userId=${user.userId}`)).events.map(
      (event) => event.type,
    )
    expect(all).toContain('register')
    expect(all.filter((type) => type === 'user.updated')).toHaveLength(5)
    // a time window: since is inclusive, until exclusive
    const latest = names[0] ?? ''
    const since = json<AuditPage>(
      await get(`/admin/audit?userId=${user.userId}&type=user.updated&since=${latest}`),
    ).events
    expect(since).toHaveLength(1)
    const until = json<AuditPage>(
      await get(`/admin/audit?userId=${user.userId}&type=user.updated&until=${latest}`),
    ).events
    expect(until).toHaveLength(4)
    // a leap second and a urn:uuid are valid by their RFCs but not to PostgreSQL: 400, not 500
    for (const url of [
      '/admin/audit?since=2016-12-31T23:59:60Z',
      '/admin/audit?since=yesterday',
      `/admin/audit?userId=urn:uuid:${user.userId}`,
      '/admin/audit?type=a%00b',
      '/admin/users?query=a%00b',
    ]) {
      const response = await get(url)
      expect(response.statusCode, url).toBe(400)
      expect(json(response).code).toBe('VALIDATION_FAILED')
    }
    expect((await get(`/admin/users/urn:uuid:${user.userId}`)).statusCode).toBe(400)
  })
})

describe('admin API: who may use it', () => {
  it('a signed-in user without the admin role gets 403, no token 401', async () => {
    const user = await registerUser(server.app)
    for (const [method, url] of [
      ['GET', '/admin/users'],
      ['GET', `/admin/users/${user.userId}`],
      ['POST', `/admin/users/${admin.userId}/disable`],
      ['GET', '/admin/audit'],
    ] as const) {
      const response = await server.app.inject({ method, url, headers: bearer(user.accessToken) })
      expect(response.statusCode, url).toBe(403)
      expect(json(response).code).toBe('FORBIDDEN')
    }
    const anonymous = await server.app.inject({ method: 'GET', url: '/admin/users' })
    expect(json(anonymous).code).toBe('TOKEN_MISSING')
    // the admin is still enabled: the refused disable did nothing
    expect((await get('/admin/users?limit=1')).statusCode).toBe(200)
  })

  it('an admin whose role is removed loses access at once', async () => {
    const other = await registerUser(server.app, uniqueEmail('admin2'))
    await changeRoles(server.deps, other.email, { add: ['admin'], remove: [] })
    const token = json<{ accessToken: string; refreshToken: string }>(
      await refreshWith(server.app, other.refreshToken),
    )
    expect((await get('/admin/users?limit=1', token.accessToken)).statusCode).toBe(200)
    await send('PATCH', `/admin/users/${other.userId}`, { roles: ['user'] })
    // the role is checked as it is now, not as the token says
    expect(json(await get('/admin/users?limit=1', token.accessToken)).code).toBe('FORBIDDEN')
    server.clock.advance(1)
    await send('PATCH', `/admin/users/${other.userId}`, { roles: ['user', 'viewer'] })
    expect(json(await get('/admin/users?limit=1', token.accessToken)).code).toBe('TOKEN_REVOKED')
    const again = json<{ accessToken: string }>(await refreshWith(server.app, token.refreshToken))
    expect((await get('/admin/users?limit=1', again.accessToken)).statusCode).toBe(403)
  })

  it('a client-credentials token with scope admin works (audited with the client id); without the scope 403', async () => {
    const client = await newClient(server, 'admin introspect', 'backoffice')
    const token = await serviceToken(server.app, client, 'admin')
    const user = await registerUser(server.app)
    expect((await get(`/admin/users/${user.userId}`, token)).statusCode).toBe(200)
    expect((await send('POST', `/admin/users/${user.userId}/disable`, undefined, token)).statusCode).toBe(204)
    const [disabled] = await auditOf(user.userId, 'user.disabled')
    expect(disabled?.detail).toMatchObject({ actor: client.id })

    const narrow = await serviceToken(server.app, client, 'introspect')
    const refused = await get('/admin/users', narrow)
    expect(refused.statusCode).toBe(403)
    expect(json(refused).code).toBe('FORBIDDEN')
    // user Bearer routes still refuse a service token
    expect((await get('/auth/me', token)).statusCode).toBe(401)
  })
})
