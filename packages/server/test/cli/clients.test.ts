import { afterEach, describe, expect, it } from 'vitest'
import { type InProcessServer, runCli, startServerInProcess, stopInProcessServers } from '../helpers/cli.js'
import { cleanupProcesses, preparedDataDir, register } from '../helpers/process.js'

const PASSWORD = 'correct horse battery staple'

afterEach(async () => {
  await stopInProcessServers()
  await cleanupProcesses()
})

interface Client {
  clientId: string
  clientSecret: string
}

const basic = ({ clientId, clientSecret }: Client): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`

async function postForm(
  url: string,
  fields: Record<string, string>,
  authorization?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(authorization ? { authorization } : {}),
    },
    body: new URLSearchParams(fields).toString(),
    signal: AbortSignal.timeout(10_000),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const introspect = (server: InProcessServer, by: Client, token: string) =>
  postForm(`${server.url}/oauth/introspect`, { token }, basic(by))

describe('tessera clients', () => {
  it('creates clients whose credentials get tokens, lists them without secrets, and revokes them', async () => {
    // request logs on: a secret must not reach them either
    const env = { TESSERA_DATA_DIR: await preparedDataDir(), LOG_LEVEL: 'trace' }

    const created = await runCli(
      ['clients', 'create', '--name', 'orders-api', '--scope', 'orders:read  revocations:read', '--json'],
      env,
    )
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    const orders = JSON.parse(created.stdout) as Client
    expect(Object.keys(orders).sort()).toEqual(['clientId', 'clientSecret'])
    expect(orders.clientId).toMatch(/^svc_[A-Za-z0-9_-]{22}$/)
    expect(orders.clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/)

    const plain = await runCli(['clients', 'create', '--name', 'gateway', '--scope', 'introspect'], env)
    expect(plain.code).toBe(0)
    const id = /client id: +(\S+)/.exec(plain.stdout)?.[1]
    const secret = /client secret: +(\S+)/.exec(plain.stdout)?.[1]
    expect(id).toMatch(/^svc_/)
    const gateway: Client = { clientId: id ?? '', clientSecret: secret ?? '' }

    const listed = await runCli(['clients', 'list'], env)
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain(`${orders.clientId}  orders-api  scopes: orders:read revocations:read`)
    expect(listed.stdout).toContain(`${gateway.clientId}  gateway  scopes: introspect`)
    expect(listed.stdout).toContain('last used never')
    const listedJson = await runCli(['clients', 'list', '--json'], env)
    const clients = (JSON.parse(listedJson.stdout) as { clients: Record<string, unknown>[] }).clients
    expect(clients.map((client) => client.clientId)).toEqual([orders.clientId, gateway.clientId])
    expect(Object.keys(clients[0] ?? {}).sort()).toEqual([
      'clientId',
      'createdAt',
      'lastUsedAt',
      'name',
      'revokedAt',
      'scopes',
    ])
    for (const output of [listed.stdout, listedJson.stdout]) {
      expect(output).not.toContain(orders.clientSecret)
      expect(output).not.toContain(gateway.clientSecret)
    }

    let server = await startServerInProcess(env)
    const viaBasic = await postForm(
      `${server.url}/oauth/token`,
      { grant_type: 'client_credentials' },
      basic(orders),
    )
    expect(viaBasic.status).toBe(200)
    expect(viaBasic.body.scope).toBe('orders:read revocations:read')
    const viaForm = await postForm(`${server.url}/oauth/token`, {
      grant_type: 'client_credentials',
      client_id: gateway.clientId,
      client_secret: gateway.clientSecret,
    })
    expect(viaForm.status).toBe(200)
    const ordersToken = String(viaBasic.body.access_token)
    expect((await introspect(server, gateway, ordersToken)).body).toMatchObject({
      active: true,
      client_id: orders.clientId,
    })
    const user = await register(server.url, 'someone@example.com', PASSWORD)
    expect((await introspect(server, gateway, user.body.accessToken)).body).toMatchObject({ active: true })
    await server.stop()
    let logs = server.stdout() + server.stderr()

    const revoked = await runCli(['clients', 'revoke', '--id', orders.clientId], env)
    expect(revoked.stderr).toBe('')
    expect(revoked.code).toBe(0)
    expect(revoked.stdout).toBe(`Revoked ${orders.clientId} (orders-api); its tokens stop working at once.\n`)
    const again = await runCli(['clients', 'revoke', '--id', orders.clientId], env)
    expect(again.stdout).toBe(`${orders.clientId} (orders-api) was already revoked.\n`)
    const after = await runCli(['clients', 'list'], env)
    expect(after.stdout).toMatch(new RegExp(`${orders.clientId} .* revoked \\d{4}-`))
    // the gateway's use was recorded
    expect(after.stdout).toMatch(new RegExp(`${gateway.clientId} .* last used \\d{4}-`))

    server = await startServerInProcess(env)
    expect((await introspect(server, gateway, ordersToken)).body).toEqual({ active: false })
    const refused = await postForm(
      `${server.url}/oauth/token`,
      { grant_type: 'client_credentials' },
      basic(orders),
    )
    expect(refused.status).toBe(401)
    expect(refused.body.error).toBe('invalid_client')
    await server.stop()

    logs += server.stdout() + server.stderr()
    expect(logs).toContain('/oauth/token')
    expect(logs).not.toContain(orders.clientSecret)
    expect(logs).not.toContain(gateway.clientSecret)
  })

  it('refuses a bad scope or name, a missing option and an unknown id', async () => {
    const env = { TESSERA_DATA_DIR: await preparedDataDir() }
    const badScope = await runCli(['clients', 'create', '--name', 'x', '--scope', 'orders"read'], env)
    expect(badScope.code).toBe(1)
    expect(badScope.stderr).toContain('scope: "orders"read" is not a scope')
    const badName = await runCli(['clients', 'create', '--name', 'tab\there'], env)
    expect(badName.code).toBe(1)
    expect(badName.stderr).toContain('name: must not contain control characters')
    const noName = await runCli(['clients', 'create', '--scope', 'introspect'], env)
    expect(noName.code).toBe(2)
    expect(noName.stderr).toContain('--name is required')
    const noId = await runCli(['clients', 'revoke'], env)
    expect(noId.code).toBe(2)
    const unknown = await runCli(['clients', 'revoke', '--id', 'svc_AAAAAAAAAAAAAAAAAAAAAA'], env)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toBe('tessera: No service client with id svc_AAAAAAAAAAAAAAAAAAAAAA.\n')
    const unknownSub = await runCli(['clients', 'rotate'], env)
    expect(unknownSub.code).toBe(2)
    expect(unknownSub.stderr).toContain('Usage: tessera clients create')
    const empty = await runCli(['clients', 'list'], env)
    expect(empty.stdout).toBe('No service clients.\n')
  })
})
