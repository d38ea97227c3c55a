#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { readPassword } from './cli/read-password.js'
import { systemClock } from './clock.js'
import { type Config, ConfigError, parseConfig } from './config.js'
import { DataDirLockedError } from './data-dir-lock.js'
import { TesseraError } from './errors.js'
import { type KeyInfo, listKeys, rotateKey } from './flows/keys.js'
import { changeRoles, createUser } from './flows/manage-users.js'
import { createLogger } from './logging.js'
import { createPasswordHasher } from './passwords/hasher.js'
import { createPasswordPolicy } from './passwords/policy.js'
import { migrateToLatest } from './store/migrate.js'
import { createStores } from './store/stores.js'
import { assertSecretOpensSigningKeys, createTessera, openTesseraDatabase, resolveSecret } from './tessera.js'

const USAGE = `Usage: tessera <command> [options]

Commands:
  serve                                 run the server (PORT, HOST and the rest from the environment)
  migrate                               apply pending database migrations
  keys rotate [--now]                   publish a new signing key; it signs after TESSERA_KEY_PUBLISH_LEAD
                                        (45 s), or at once with --now; the old one stays in the JWKS
                                        until every token it signed has expired
  keys list                             list signing keys
  users create --email E [--role R]... [--name N]
                                        create a user; the password is read from a prompt or stdin
  users roles --email E [--add R]... [--remove R]...
                                        change a user's roles
  help                                  show this text

Configuration comes from the environment: see the README (DATABASE_URL, TESSERA_SECRET, …).`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    if (command === undefined) {
      process.stderr.write(`${USAGE}\n`)
      return 2
    }
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const config = parseConfig(process.env)
  switch (command) {
    case 'serve':
      return serve(config)
    case 'migrate':
      return withStores(config, 'migrate', async (_stores, results) => {
        const applied = results.filter((result) => result.status === 'Success')
        process.stdout.write(
          applied.length === 0
            ? 'Database is up to date.\n'
            : `Applied ${applied.map((r) => r.migrationName).join(', ')}\n`,
        )
      })
    case 'keys':
      return keysCommand(config, rest)
    case 'users':
      return usersCommand(config, rest)
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}\n`)
      return 2
  }
}

/** How long SIGTERM waits for requests in flight before it closes their connections. */
const DRAIN_DEADLINE_MS = 5000

async function serve(config: Config): Promise<number> {
  const logger = createLogger(config)
  const tessera = await createTessera(config, { logger, command: 'serve' })
  const address = await tessera.app.listen({ port: config.port, host: config.host })
  const base = config.publicUrl
  process.stdout.write(
    [
      `Tessera is listening on ${address}`,
      `  API          ${base}/auth`,
      `  Docs         ${base}/docs`,
      `  OpenAPI      ${base}/openapi.json`,
      `  JWKS         ${base}/.well-known/jwks.json`,
      `  Database     ${describeDatabase(config)}`,
      '',
    ].join('\n'),
  )
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down: draining requests')
      // a client that stalls mid-request must not keep the process alive (Node would wait up to its
      // 5-minute requestTimeout): after the deadline, cut the connections still open
      const deadline = setTimeout(() => {
        logger.warn({ afterMs: DRAIN_DEADLINE_MS }, 'shutting down: closing connections still open')
        tessera.app.server.closeAllConnections()
      }, DRAIN_DEADLINE_MS)
      deadline.unref()
      tessera
        .close()
        .catch((error: unknown) => logger.error({ err: error }, 'error while shutting down'))
        .finally(() => {
          clearTimeout(deadline)
          resolve()
        })
    }
    let stopping = false
    const onSignal = (signal: string) => {
      // a second Ctrl-C must not kill the process while the database closes
      if (stopping) logger.warn({ signal }, 'already shutting down')
      else stop(signal)
      stopping = true
    }
    process.on('SIGTERM', () => onSignal('SIGTERM'))
    process.on('SIGINT', () => onSignal('SIGINT'))
  })
  return 0
}

function describeDatabase(config: Config): string {
  if (config.database.kind === 'postgres') return `PostgreSQL ${new URL(config.database.url).host}`
  if (config.database.kind === 'pglite-memory') return 'embedded, in memory (data is lost on exit)'
  return `embedded PGlite in ${config.database.dir}`
}

/** Opens the database as the CLI does (migrating first, under the data-dir lock for PGlite). */
async function withStores(
  config: Config,
  command: string,
  work: (
    stores: ReturnType<typeof createStores>,
    migrations: Awaited<ReturnType<typeof migrateToLatest>>,
  ) => Promise<void>,
): Promise<number> {
  const { database, lock } = await openTesseraDatabase(config, { command, logger: false, migrate: false })
  try {
    const results = await migrateToLatest(database.db)
    await work(createStores(database.db), results)
    return 0
  } finally {
    await database.close()
    await lock?.release()
  }
}

async function keysCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const print = (keys: KeyInfo[]) => {
    for (const key of keys) {
      process.stdout.write(
        `${key.kid}  ${key.alg.padEnd(5)}  ${key.state.padEnd(9)}  created ${key.createdAt.toISOString()}` +
          `${key.retiredAt ? `  retired ${key.retiredAt.toISOString()}` : ''}\n`,
      )
    }
  }
  if (sub === 'list')
    return withStores(config, 'keys list', async (stores) =>
      print(await listKeys({ stores, clock: systemClock })),
    )
  if (sub === 'rotate') {
    const { values } = parseArgs({ args: rest, options: { now: { type: 'boolean' } }, strict: true })
    const alg = config.signingAlg
    if (alg === 'HS256') {
      process.stderr.write(
        'TESSERA_SIGNING_ALG is HS256: the shared secret is the key; rotate TESSERA_HS256_SECRET instead.\n',
      )
      return 2
    }
    return withStores(config, 'keys rotate', async (stores) => {
      const secret = await resolveSecret(config, false)
      await assertSecretOpensSigningKeys(config, stores.signingKeys, secret)
      const { kid, activatesAt } = await rotateKey({
        stores,
        clock: systemClock,
        secret,
        alg,
        // --now: a key thought compromised is replaced at once, accepting that verifiers with a
        // cached JWKS refuse new tokens until they re-fetch it
        lead: values.now ? 0 : config.keyPublishLead,
      })
      process.stdout.write(
        values.now || config.keyPublishLead === 0
          ? `New active signing key ${kid}. Running servers sign with it within ${config.keyRefreshInterval} s.\n`
          : `New signing key ${kid}: in the JWKS of running servers within ${config.keyRefreshInterval} s, ` +
              `signing from ${activatesAt.toISOString()}.\n`,
      )
    })
  }
  process.stderr.write(`Usage: tessera keys rotate [--now] | tessera keys list\n`)
  return 2
}

const USERS_USAGE =
  'Usage: tessera users create --email E [--role R]… [--name N] | tessera users roles --email E [--add R]… [--remove R]…\n'

async function usersCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'create') {
    const { values } = parseArgs({
      args: rest,
      options: {
        email: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string', multiple: true },
      },
      strict: true,
    })
    const email = values.email
    if (!email) return usage('--email is required\n' + USERS_USAGE)
    // the lock first: an operator hears that the data dir is busy before typing a password, not after
    return withStores(config, 'users create', async (stores) => {
      const password = await readPassword(process.stdin, process.stderr)
      const user = await createUser(
        {
          stores,
          clock: systemClock,
          hasher: createPasswordHasher(),
          policy: createPasswordPolicy(config),
        },
        { email, password, name: values.name, roles: values.role ?? ['user'] },
      )
      process.stdout.write(`Created ${user.email} (${user.id}) with roles ${user.roles.join(', ')}\n`)
    })
  }
  if (sub === 'roles') {
    const { values } = parseArgs({
      args: rest,
      options: {
        email: { type: 'string' },
        add: { type: 'string', multiple: true },
        remove: { type: 'string', multiple: true },
      },
      strict: true,
    })
    const email = values.email
    if (!email) return usage('--email is required\n' + USERS_USAGE)
    if (!values.add?.length && !values.remove?.length) return usage('give --add or --remove\n' + USERS_USAGE)
    return withStores(config, 'users roles', async (stores) => {
      const user = await changeRoles({ stores, clock: systemClock }, email, {
        add: values.add ?? [],
        remove: values.remove ?? [],
      })
      process.stdout.write(`${user.email} now has roles ${user.roles.join(', ') || '(none)'}\n`)
    })
  }
  return usage(USERS_USAGE)
}

function usage(text: string): number {
  process.stderr.write(text)
  return 2
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS_')) {
      // a mistyped option is a usage error, not a crash: no stack trace
      process.stderr.write(`tessera: ${(error as Error).message}\n\n${USAGE}\n`)
      process.exitCode = 2
      return
    }
    if (error instanceof ConfigError || error instanceof DataDirLockedError) {
      process.stderr.write(`tessera: ${error.message}\n`)
    } else if (error instanceof TesseraError) {
      process.stderr.write(
        `tessera: ${error.detail}${error.errors ? ` ${error.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}` : ''}\n`,
      )
    } else {
      process.stderr.write(
        `tessera: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      )
    }
    process.exitCode = 1
  },
)
