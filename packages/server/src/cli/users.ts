import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import {
  changeRoles,
  createUser,
  deleteUser,
  disableUser,
  enableUser,
  findUser,
} from '../flows/manage-users.js'
import { resetMfa } from '../flows/mfa/reset-mfa.js'
import { createPasswordHasher } from '../passwords/hasher.js'
import { createPasswordPolicy } from '../passwords/policy.js'
import { confirm } from './confirm.js'
import { type CliIo, isTerminal, usage } from './io.js'
import { readPassword } from './read-password.js'
import { EXPORT_USAGE, exportUsers } from './users-export.js'
import { IMPORT_USAGE, importUsers } from './users-import.js'
import { withEvents, withStores } from './with-stores.js'

const USERS_USAGE =
  'Usage: tessera users create --email E [--role R]… [--name N] | tessera users roles --email E [--add R]… [--remove R]…\n' +
  '       tessera users disable|enable --email E|--id ID | tessera users delete --email E|--id ID [--yes]\n' +
  '       tessera users conflicts | tessera users mfa-reset --email E|--id ID\n' +
  `       ${IMPORT_USAGE.replace('Usage: ', '')}` +
  `       ${EXPORT_USAGE.replace('Usage: ', '')}`

/** `tessera users create | roles | disable | enable | delete | conflicts | mfa-reset | import | export`. */
export async function users(config: Config, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'create') return create(config, rest, io)
  if (sub === 'roles') return roles(config, rest, io)
  if (sub === 'disable' || sub === 'enable' || sub === 'delete') return lifecycle(config, sub, rest, io)
  if (sub === 'conflicts') return conflicts(config, rest, io)
  if (sub === 'mfa-reset') return mfaReset(config, rest, io)
  if (sub === 'import') return importUsers(config, rest, io)
  if (sub === 'export') return exportUsers(config, rest, io)
  return usage(io, USERS_USAGE)
}

async function create(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string', multiple: true },
    },
    strict: true,
  })
  const email = values.email
  if (!email) return usage(io, `--email is required\n${USERS_USAGE}`)
  // the lock first: an operator hears that the data dir is busy before typing a password, not after
  return withStores(config, 'users create', async (stores) => {
    const password = await readPassword(io.stdin, io.stderr)
    const user = await createUser(
      {
        stores,
        clock: systemClock,
        hasher: createPasswordHasher(),
        policy: createPasswordPolicy(config),
      },
      { email, password, name: values.name, roles: values.role ?? ['user'] },
    )
    io.stdout.write(`Created ${user.email} (${user.id}) with roles ${user.roles.join(', ')}\n`)
  })
}

async function roles(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      email: { type: 'string' },
      add: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
    },
    strict: true,
  })
  const email = values.email
  if (!email) return usage(io, `--email is required\n${USERS_USAGE}`)
  if (!values.add?.length && !values.remove?.length)
    return usage(io, `give --add or --remove\n${USERS_USAGE}`)
  return withStores(config, 'users roles', async (stores) => {
    const user = await changeRoles({ stores, clock: systemClock }, email, {
      add: values.add ?? [],
      remove: values.remove ?? [],
    })
    io.stdout.write(`${user.email} now has roles ${user.roles.join(', ') || '(none)'}\n`)
  })
}

/** Removes every second factor of a user who lost their device: the password signs in alone again. */
async function mfaReset(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { email: { type: 'string' }, id: { type: 'string' } },
    strict: true,
  })
  if (values.email !== undefined && values.id !== undefined)
    return usage(io, `give --email or --id, not both\n${USERS_USAGE}`)
  const emailOrId = values.email ?? values.id ?? ''
  if (emailOrId === '') return usage(io, `--email is required (or --id)\n${USERS_USAGE}`)
  return withStores(config, 'users mfa-reset', (stores) =>
    withEvents(stores, async (events) => {
      const { user, totp, recoveryCodes, passkeys } = await resetMfa({ stores, events }, emailOrId)
      io.stdout.write(
        totp || recoveryCodes > 0 || passkeys > 0
          ? `Removed the second factors of ${user.email} (TOTP${totp ? '' : ' none'}, ${plural(recoveryCodes, 'recovery code')}, ${plural(passkeys, 'passkey')}); the password alone signs in now.\n`
          : `${user.email} has no second factor.\n`,
      )
    }),
  )
}

async function conflicts(config: Config, args: string[], io: CliIo): Promise<number> {
  parseArgs({ args, options: {}, strict: true })
  return withStores(config, 'users conflicts', async (stores) => {
    const conflicts = await stores.users.emailKeyConflicts()
    if (conflicts.length === 0) io.stdout.write('No accounts share a mailbox.\n')
    for (const conflict of conflicts) {
      io.stdout.write(
        `${conflict.userId}  ${conflict.email}  created ${conflict.createdAt.toISOString()}  ` +
          `(the address signs in to ${conflict.heldBy.email ?? 'a deleted account'} ${conflict.heldBy.userId})\n`,
      )
    }
  })
}

/** `users disable | enable | delete`: beside a running server on PostgreSQL, or on an idle data dir. */
async function lifecycle(
  config: Config,
  sub: 'disable' | 'enable' | 'delete',
  args: string[],
  io: CliIo,
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      email: { type: 'string' },
      id: { type: 'string' },
      ...(sub === 'delete' ? { yes: { type: 'boolean' } } : {}),
    },
    strict: true,
  })
  if (values.email !== undefined && values.id !== undefined)
    return usage(io, `give --email or --id, not both\n${USERS_USAGE}`)
  // an id names the account directly (findUser takes either)
  const email = values.email ?? values.id ?? ''
  if (email === '') return usage(io, `--email is required (or --id)\n${USERS_USAGE}`)
  const confirmed = values.yes === true
  // a script that forgot --yes must not delete: without a terminal nobody can answer the question
  if (sub === 'delete' && !confirmed && !isTerminal(io)) {
    return usage(io, 'tessera: users delete needs --yes when stdin is not a terminal; nothing was deleted.\n')
  }
  return withStores(config, `users ${sub}`, (stores) =>
    withEvents(stores, async (events) => {
      const deps = { stores, clock: systemClock, events }
      if (sub === 'disable') {
        const { user, sessions, changed } = await disableUser(deps, email)
        io.stdout.write(
          `${changed ? `Disabled ${user.email}` : `${user.email} was already disabled`}; ${plural(sessions, 'session')} revoked.\n`,
        )
      } else if (sub === 'enable') {
        const { user, changed } = await enableUser(deps, email)
        io.stdout.write(changed ? `Enabled ${user.email}.\n` : `${user.email} is not disabled.\n`)
      } else {
        if (!confirmed) {
          // asked only about an account that exists
          const user = await findUser(stores, email)
          const yes = await confirm(
            io.stdin,
            io.stderr,
            `Delete ${user.email} (${user.id}) and every session of it? This cannot be undone. [y/N] `,
          )
          if (!yes) {
            io.stderr.write('Nothing was deleted.\n')
            return
          }
        }
        const { user, sessions } = await deleteUser(deps, email)
        io.stdout.write(`Deleted ${user.email} (${user.id}) and ${plural(sessions, 'live session')}.\n`)
      }
    }),
  )
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`
