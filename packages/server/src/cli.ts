#!/usr/bin/env node
import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { createEventRecorder } from './audit/recorder.js'
import { confirm } from './cli/confirm.js'
import { readPassword } from './cli/read-password.js'
import { systemClock } from './clock.js'
import { prepareDatabase } from './cluster/prepare.js'
import { runPrimary } from './cluster/primary.js'
import { linkToPrimary, type PrimaryLink } from './cluster/worker.js'
import { type Config, ConfigError, defaultHashConcurrency, parseConfig, parseWorkers } from './config.js'
import { DataDirLockedError } from './data-dir-lock.js'
import { TesseraError } from './errors.js'
import type { AuthEvents } from './events.js'
import { type KeyInfo, listKeys, reencryptKeys, rotateKey } from './flows/keys.js'
import {
  changeRoles,
  createUser,
  deleteUser,
  disableUser,
  enableUser,
  findUser,
} from './flows/manage-users.js'
import { auditRetentionTask, runHousekeeping } from './housekeeping.js'
import { createLogger } from './logging.js'
import { createPasswordHasher } from './passwords/hasher.js'
import { createPasswordPolicy } from './passwords/policy.js'
import { describeStartupError } from './startup-errors.js'
import type { Db } from './store/db.js'
import { createHousekeepingStore } from './store/housekeeping.js'
import { migrateToLatest } from './store/migrate.js'
import type { Stores } from './store/stores.js'
import { createStores } from './store/stores.js'
import { assertSecretOpensSigningKeys, createTessera, openTesseraDatabase, resolveSecret } from './tessera.js'

const USAGE = `Usage: tessera <command> [options]

Commands:
  serve [--workers N|auto]              run the server (PORT, HOST and the rest from the environment);
                                        --workers runs N processes on the one port, auto one per CPU
                                        (PostgreSQL only; default TESSERA_WORKERS, or 1)
  migrate                               apply pending database migrations
  keys rotate [--now]                   publish a new signing key; it signs after TESSERA_KEY_PUBLISH_LEAD
                                        (90 s), or at once with --now; the old one stays in the JWKS
                                        until every token it signed has expired
  keys list                             list signing keys
  keys reencrypt                        re-encrypt every private key under TESSERA_SECRET, after a
                                        secret rotation (then TESSERA_SECRET_PREVIOUS can go)
  users create --email E [--role R]... [--name N]
                                        create a user; the password is read from a prompt or stdin
  users roles --email E [--add R]... [--remove R]...
                                        change a user's roles
  users disable --email E|--id ID       disable an account and end every session of it at once
  users enable --email E|--id ID        enable a disabled account
  users delete --email E|--id ID [--yes]
                                        delete an account and its sessions; asks first unless --yes
  users conflicts                       accounts that share a mailbox with an older one (found when
                                        the email rule changed); never merged: delete or keep by --id
  housekeeping                          delete dead sessions and spent tokens now (servers do it
                                        every TESSERA_HOUSEKEEPING_INTERVAL)
  help                                  show this text

Configuration comes from the environment (DATABASE_URL, TESSERA_SECRET, …): every variable is in
docs/configuration.md.`

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
  if (!COMMANDS.includes(command)) {
    process.stderr.write(`tessera: unknown command "${command}". Run tessera help for the commands.\n`)
    return 2
  }
  const config = parseConfig(process.env)
  try {
    return await run(config, command, rest)
  } catch (error) {
    const line = describeStartupError(error, config)
    if (line === undefined) throw error
    process.stderr.write(`tessera: ${line}\n`)
    return 1
  }
}

const COMMANDS = ['serve', 'migrate', 'keys', 'users', 'housekeeping']

async function run(config: Config, command: string, rest: string[]): Promise<number> {
  switch (command) {
    case 'serve':
      return serve(config, rest)
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
    case 'housekeeping':
      parseArgs({ args: rest, options: {}, strict: true })
      return withStores(config, 'housekeeping', async (_stores, _results, db) => {
        const report = await runHousekeeping({
          store: createHousekeepingStore(db),
          clock: systemClock,
          config,
          tasks: [auditRetentionTask(config)],
        })
        if (report.status === 'skipped') {
          process.stdout.write('Skipped: another instance is running housekeeping right now.\n')
          return
        }
        const counts = Object.entries(report.deleted).map(([what, count]) => `${what} ${count}`)
        process.stdout.write(`Deleted: ${counts.join(', ')}\n`)
      })
    default:
      return 2
  }
}

/** How long SIGTERM waits for requests in flight before it closes their connections. */
const DRAIN_DEADLINE_MS = 5000

async function serve(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { workers: { type: 'string' } }, strict: true })
  let workers = config.workers
  if (values.workers !== undefined) {
    try {
      workers = parseWorkers('--workers', values.workers)
    } catch (error) {
      // a bad option value is a usage error, as parseArgs' own are
      if (error instanceof ConfigError) return usage(`tessera: ${error.message}\n`)
      throw error
    }
  }
  const logger = createLogger(config)
  // a worker of `serve --workers` runs this same command line: it serves, as a single process does
  if (cluster.isWorker) {
    try {
      return await serveOne(config, logger, linkToPrimary(process, { scrapeTimeoutMs: 5000 }))
    } finally {
      // the channel to the primary would keep the process alive: once served (or failed), let go
      cluster.worker?.disconnect()
    }
  }
  if (workers === 1) return serveOne(config, logger, undefined)
  if (config.database.kind !== 'postgres') {
    const which =
      config.database.kind === 'pglite-memory'
        ? 'the in-memory embedded database'
        : `the embedded database (PGlite in ${config.dataDir})`
    const asked = values.workers === undefined ? `TESSERA_WORKERS=${workers}` : `--workers ${workers}`
    return usage(
      `tessera: ${asked} needs PostgreSQL: ${which} can be opened by one process only. ` +
        'Set DATABASE_URL=postgres://… to run several workers, or run one.\n',
    )
  }
  await prepareDatabase(config, logger)
  // the cores are shared by every worker: unless told otherwise, each hashes its share of them at
  // once (workers inherit this environment through cluster.fork)
  if (process.env.TESSERA_HASH_CONCURRENCY === undefined) {
    process.env.TESSERA_HASH_CONCURRENCY = String(defaultHashConcurrency(process.env, workers))
  }
  return runPrimary({
    workers,
    logger,
    // a worker drains for DRAIN_DEADLINE_MS, then closes the database: time enough for both
    forceExitAfterMs: DRAIN_DEADLINE_MS + 5000,
    onListening: (address) => process.stdout.write(banner(config, address, workers)),
  })
}

/** Serves in this process: alone, or as a worker of `serve --workers` linked to its primary. */
async function serveOne(config: Config, logger: Logger, primary: PrimaryLink | undefined): Promise<number> {
  const tessera = await createTessera(config, {
    logger,
    command: 'serve',
    // the primary migrated and gathers the metrics of every worker
    ...(primary ? { migrate: false, scrapeMetrics: primary.scrapeMetrics } : {}),
  })
  let address: string
  try {
    address = await tessera.app.listen({ port: config.port, host: config.host })
  } catch (error) {
    // the port is taken, say: exit now, not once the database pool's idle connections time out
    await tessera.close()
    throw error
  }
  if (primary) primary.listening(address, tessera.metrics)
  else process.stdout.write(banner(config, address, 1))
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
      // a second Ctrl-C must not kill the process while the database closes; a worker gets Ctrl-C
      // twice anyway, from the terminal and from its primary
      if (stopping && primary) logger.debug({ signal }, 'already shutting down')
      else if (stopping) logger.warn({ signal }, 'already shutting down')
      else stop(signal)
      stopping = true
    }
    process.on('SIGTERM', () => onSignal('SIGTERM'))
    process.on('SIGINT', () => onSignal('SIGINT'))
  })
  return 0
}

function banner(config: Config, address: string, workers: number): string {
  const base = config.publicUrl
  return [
    `Tessera is listening on ${address}`,
    `  Issuer       ${base}`,
    '               (TESSERA_PUBLIC_URL: resource servers must use exactly this as the issuer)',
    `  API          ${base}/auth`,
    `  Docs         ${base}/docs`,
    `  OpenAPI      ${base}/openapi.json`,
    `  JWKS         ${base}/.well-known/jwks.json`,
    `  Database     ${describeDatabase(config)}`,
    ...(workers > 1 ? [`  Workers      ${workers} processes (primary pid ${process.pid})`] : []),
    '',
  ].join('\n')
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
    db: Db,
  ) => Promise<void>,
): Promise<number> {
  const { database, lock } = await openTesseraDatabase(config, { command, logger: false, migrate: false })
  try {
    const results = await migrateToLatest(database.db)
    await work(createStores(database.db), results, database.db)
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
      const { kid, activatesAt } = await withEvents(stores, (events) =>
        rotateKey({
          stores,
          clock: systemClock,
          events,
          secret,
          alg,
          // --now: a key thought compromised is replaced at once, accepting that verifiers with a
          // cached JWKS refuse new tokens until they re-fetch it
          lead: values.now ? 0 : config.keyPublishLead,
        }),
      )
      process.stdout.write(
        values.now || config.keyPublishLead === 0
          ? `New active signing key ${kid}. Running servers sign with it within ${config.keyRefreshInterval} s.\n`
          : `New signing key ${kid}: in the JWKS of running servers within ${config.keyRefreshInterval} s, ` +
              `signing from ${activatesAt.toISOString()}.\n`,
      )
    })
  }
  if (sub === 'reencrypt') {
    parseArgs({ args: rest, options: {}, strict: true })
    return withStores(config, 'keys reencrypt', async (stores) => {
      const { reencrypted, unchanged } = await reencryptKeys({
        stores,
        secret: await resolveSecret(config, false),
        previousSecret: config.secretPrevious,
      })
      process.stdout.write(
        reencrypted.length === 0
          ? `Every signing key (${unchanged.length}) is already encrypted under TESSERA_SECRET.\n`
          : `Re-encrypted ${reencrypted.length} signing key(s) under TESSERA_SECRET: ${reencrypted.join(', ')}. ` +
              'TESSERA_SECRET_PREVIOUS is no longer needed.\n',
      )
    })
  }
  process.stderr.write(`Usage: tessera keys rotate [--now] | tessera keys list | tessera keys reencrypt\n`)
  return 2
}

/** Runs a command with the audit log as its events, written before the command exits. */
async function withEvents<T>(stores: Stores, work: (events: AuthEvents) => Promise<T>): Promise<T> {
  const recorder = createEventRecorder({ store: stores.authEvents, clock: systemClock, logger: false })
  try {
    return await work(recorder)
  } finally {
    await recorder.flush()
  }
}

const USERS_USAGE =
  'Usage: tessera users create --email E [--role R]… [--name N] | tessera users roles --email E [--add R]… [--remove R]…\n' +
  '       tessera users disable|enable --email E|--id ID | tessera users delete --email E|--id ID [--yes]\n' +
  '       tessera users conflicts\n'

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
  if (sub === 'disable' || sub === 'enable' || sub === 'delete') return lifecycleCommand(config, sub, rest)
  if (sub === 'conflicts') {
    parseArgs({ args: rest, options: {}, strict: true })
    return withStores(config, 'users conflicts', async (stores) => {
      const conflicts = await stores.users.emailKeyConflicts()
      if (conflicts.length === 0) process.stdout.write('No accounts share a mailbox.\n')
      for (const conflict of conflicts) {
        process.stdout.write(
          `${conflict.userId}  ${conflict.email}  created ${conflict.createdAt.toISOString()}  ` +
            `(the address signs in to ${conflict.heldBy.email ?? 'a deleted account'} ${conflict.heldBy.userId})\n`,
        )
      }
    })
  }
  return usage(USERS_USAGE)
}

/** `users disable | enable | delete`: beside a running server on PostgreSQL, or on an idle data dir. */
async function lifecycleCommand(
  config: Config,
  sub: 'disable' | 'enable' | 'delete',
  args: string[],
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
    return usage(`give --email or --id, not both\n${USERS_USAGE}`)
  // an id names the account directly (findUser takes either)
  const email = values.email ?? values.id ?? ''
  if (email === '') return usage(`--email is required (or --id)\n${USERS_USAGE}`)
  const confirmed = values.yes === true
  // a script that forgot --yes must not delete: without a terminal nobody can answer the question
  if (sub === 'delete' && !confirmed && !process.stdin.isTTY) {
    return usage('tessera: users delete needs --yes when stdin is not a terminal; nothing was deleted.\n')
  }
  return withStores(config, `users ${sub}`, (stores) =>
    withEvents(stores, async (events) => {
      const deps = { stores, clock: systemClock, events }
      if (sub === 'disable') {
        const { user, sessions, changed } = await disableUser(deps, email)
        process.stdout.write(
          `${changed ? `Disabled ${user.email}` : `${user.email} was already disabled`}; ${plural(sessions, 'session')} revoked.\n`,
        )
      } else if (sub === 'enable') {
        const { user, changed } = await enableUser(deps, email)
        process.stdout.write(changed ? `Enabled ${user.email}.\n` : `${user.email} is not disabled.\n`)
      } else {
        if (!confirmed) {
          // asked only about an account that exists
          const user = await findUser(stores, email)
          const yes = await confirm(
            process.stdin,
            process.stderr,
            `Delete ${user.email} (${user.id}) and every session of it? This cannot be undone. [y/N] `,
          )
          if (!yes) {
            process.stderr.write('Nothing was deleted.\n')
            return
          }
        }
        const { user, sessions } = await deleteUser(deps, email)
        process.stdout.write(`Deleted ${user.email} (${user.id}) and ${plural(sessions, 'live session')}.\n`)
      }
    }),
  )
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`

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
