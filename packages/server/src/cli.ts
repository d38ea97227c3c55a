#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { readPassword } from './cli/read-password.js'
import { systemClock } from './clock.js'
import { type Config, ConfigError, parseConfig } from './config.js'
import { DataDirLockedError } from './data-dir-lock.js'
import { TesseraError } from './errors.js'
import { type KeyInfo, listKeys, rotateKey } from './flows/keys.js'
import { changeRoles, createUser } from './flows/manage-users.js'
import { REDACTED_PATHS } from './http/app.js'
import { migrateToLatest } from './store/migrate.js'
import { createStores } from './store/stores.js'
import { createTessera, openTesseraDatabase, resolveSecret } from './tessera.js'

const USAGE = `Usage: tessera <command> [options]

Commands:
  serve                                 run the server (PORT, HOST and the rest from the environment)
  migrate                               apply pending database migrations
  keys rotate                           make a new signing key active; the old one stays in the JWKS
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
    process.stdout.write(`${USAGE}\n`)
    return command === undefined ? 1 : 0
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

async function serve(config: Config): Promise<number> {
  const logger = pino({ level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } })
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
      tessera
        .close()
        .catch((error: unknown) => logger.error({ err: error }, 'error while shutting down'))
        .finally(resolve)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
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
  const [sub] = args
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
    if (config.signingAlg === 'HS256') {
      process.stderr.write(
        'TESSERA_SIGNING_ALG is HS256: the shared secret is the key; rotate TESSERA_HS256_SECRET instead.\n',
      )
      return 2
    }
    const secret = await resolveSecret(config, false)
    return withStores(config, 'keys rotate', async (stores) => {
      const kid = await rotateKey({ stores, clock: systemClock, secret, alg: config.signingAlg as 'RS256' })
      process.stdout.write(
        `New active signing key ${kid}. Running servers sign with it within ${config.keyRefreshInterval} s.\n`,
      )
    })
  }
  process.stderr.write(`Usage: tessera keys rotate | tessera keys list\n`)
  return 2
}

async function usersCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const { values } = parseArgs({
    args: rest,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string', multiple: true },
      add: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
    },
    strict: true,
  })
  if (!values.email) {
    process.stderr.write('--email is required\n')
    return 2
  }
  const email = values.email
  if (sub === 'create') {
    const password = await readPassword(process.stdin, process.stderr)
    return withStores(config, 'users create', async (stores) => {
      const user = await createUser(
        {
          stores,
          clock: systemClock,
          hasher: (await import('./passwords/hasher.js')).createPasswordHasher(),
          config,
        },
        { email, password, name: values.name, roles: values.role ?? ['user'] },
      )
      process.stdout.write(`Created ${user.email} (${user.id}) with roles ${user.roles.join(', ')}\n`)
    })
  }
  if (sub === 'roles') {
    return withStores(config, 'users roles', async (stores) => {
      const user = await changeRoles({ stores, clock: systemClock }, email, {
        add: values.add ?? [],
        remove: values.remove ?? [],
      })
      process.stdout.write(`${user.email} now has roles ${user.roles.join(', ') || '(none)'}\n`)
    })
  }
  process.stderr.write(
    'Usage: tessera users create --email E [--role R]… | tessera users roles --email E --add R --remove R\n',
  )
  return 2
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
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
