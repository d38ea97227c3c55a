import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import { createServiceClient, listServiceClients, revokeServiceClient } from '../flows/service-clients.js'
import type { ServiceClientRecord } from '../store/records.js'
import { type CliIo, usage } from './io.js'
import { withStores } from './with-stores.js'

const CLIENTS_USAGE =
  'Usage: tessera clients create --name NAME [--scope "SCOPES"] [--json] | tessera clients list [--json]\n' +
  '       tessera clients revoke --id ID\n' +
  'Scopes (space-separated): introspect, revocations:read, admin, or any an application checks.\n'

/** `tessera clients create | list | revoke`: service credentials for /oauth/* and the revocation feed. */
export async function clients(config: Config, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'create') return create(config, rest, io)
  if (sub === 'list') return list(config, rest, io)
  if (sub === 'revoke') return revoke(config, rest, io)
  return usage(io, CLIENTS_USAGE)
}

async function create(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { name: { type: 'string' }, scope: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  })
  const name = values.name
  if (!name) return usage(io, `--name is required\n${CLIENTS_USAGE}`)
  return withStores(config, 'clients create', async (stores) => {
    const { client, secret } = await createServiceClient(
      { stores, clock: systemClock },
      { name, scope: values.scope ?? '' },
    )
    // the secret is shown here once: only its hash is stored
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ clientId: client.id, clientSecret: secret })}\n`)
      return
    }
    io.stdout.write(
      `Created client ${client.name} with scopes ${client.scopes.join(' ') || '(none)'}\n` +
        `client id:     ${client.id}\n` +
        `client secret: ${secret}\n` +
        'Store the secret now: it is not shown again and cannot be recovered (revoke and create another).\n',
    )
  })
}

async function list(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true })
  return withStores(config, 'clients list', async (stores) => {
    const found = await listServiceClients(stores)
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ clients: found.map(view) })}\n`)
      return
    }
    if (found.length === 0) io.stdout.write('No service clients.\n')
    for (const client of found) {
      const state = client.revokedAt
        ? `revoked ${client.revokedAt.toISOString()}`
        : `last used ${client.lastUsedAt?.toISOString() ?? 'never'}`
      io.stdout.write(
        `${client.id}  ${client.name}  scopes: ${client.scopes.join(' ') || '(none)'}  ` +
          `created ${client.createdAt.toISOString()}  ${state}\n`,
      )
    }
  })
}

async function revoke(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { id: { type: 'string' } }, strict: true })
  const id = values.id
  if (!id) return usage(io, `--id is required\n${CLIENTS_USAGE}`)
  return withStores(config, 'clients revoke', async (stores) => {
    const { client, changed } = await revokeServiceClient({ stores, clock: systemClock, config }, id)
    io.stdout.write(
      changed
        ? `Revoked ${client.id} (${client.name}); its tokens stop working at once.\n`
        : `${client.id} (${client.name}) was already revoked.\n`,
    )
  })
}

/** What `list --json` shows of a client: never a secret or its hash (the records hold neither). */
const view = (client: ServiceClientRecord) => ({
  clientId: client.id,
  name: client.name,
  scopes: client.scopes,
  createdAt: client.createdAt.toISOString(),
  revokedAt: client.revokedAt?.toISOString() ?? null,
  lastUsedAt: client.lastUsedAt?.toISOString() ?? null,
})
