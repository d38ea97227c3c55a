import { type Config, ConfigError, parseConfig } from '../config.js'
import { DataDirLockedError } from '../data-dir-lock.js'
import { TesseraError } from '../errors.js'
import { describeStartupError } from '../startup-errors.js'
import type { CliIo } from './io.js'

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
  users import FILE [--format jsonl|csv] [--dry-run] [--update] [--rejects FILE]
                                        import users from another system (bcrypt, argon2, Django
                                        PBKDF2 hashes, upgraded at first login); existing emails are
                                        skipped, or updated with --update; exit code 3 when rows were
                                        rejected (each in the rejects file, default FILE.rejects.jsonl)
  users export [--include-hashes] [--output FILE]
                                        every user as JSONL that users import reads (stdout default)
  clients create --name N [--scope "S"] [--json]
                                        create a service client for /oauth/token, /oauth/introspect and
                                        the revocation feed; prints its id and secret once (scopes:
                                        introspect, revocations:read, admin, or any an app checks)
  clients list [--json]                 list service clients (never their secrets)
  clients revoke --id ID                revoke a service client; its tokens stop working at once
  housekeeping                          delete dead sessions and spent tokens now (servers do it
                                        every TESSERA_HOUSEKEEPING_INTERVAL)
  webhooks failed [--json]              webhook events that gave up after 24 hours of retries
  webhooks retry --id ID [--id ID]... | --all
                                        send given-up webhook events again (a new 24 hours of retries)
  help                                  show this text

Configuration comes from the environment (DATABASE_URL, TESSERA_SECRET, …): every variable is in
docs/configuration.md.`

const COMMANDS = ['serve', 'migrate', 'keys', 'users', 'clients', 'housekeeping', 'webhooks']

/**
 * Runs `tessera <argv>` with `io` as its environment and standard streams; resolves with the exit
 * code. Every error ends as a line on `io.stderr` and exit code 1 (2 for a usage error).
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io)
  } catch (error) {
    return report(error, io)
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    if (command === undefined) {
      io.stderr.write(`${USAGE}\n`)
      return 2
    }
    io.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (!COMMANDS.includes(command)) {
    io.stderr.write(`tessera: unknown command "${command}". Run tessera help for the commands.\n`)
    return 2
  }
  const config = parseConfig(io.env)
  try {
    return await runCommand(config, command, rest, io)
  } catch (error) {
    const line = describeStartupError(error, config)
    if (line === undefined) throw error
    io.stderr.write(`tessera: ${line}\n`)
    return 1
  }
}

// each command's module is loaded when it runs: a server does not keep the importer's CSV parser
// or progress bar in memory, nor a one-off command the server's plugins
async function runCommand(config: Config, command: string, rest: string[], io: CliIo): Promise<number> {
  switch (command) {
    case 'serve':
      return (await import('./serve.js')).serve(config, rest, io)
    case 'migrate':
      return (await import('./migrate.js')).migrate(config, io)
    case 'keys':
      return (await import('./keys.js')).keys(config, rest, io)
    case 'users':
      return (await import('./users.js')).users(config, rest, io)
    case 'clients':
      return (await import('./clients.js')).clients(config, rest, io)
    case 'housekeeping':
      return (await import('./housekeeping.js')).housekeeping(config, rest, io)
    case 'webhooks':
      return (await import('./webhooks.js')).webhooks(config, rest, io)
    default:
      return 2
  }
}

/** The one line (or, for a bug, the stack trace) an error that ends a command leaves on stderr. */
function report(error: unknown, io: CliIo): number {
  if (String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS_')) {
    // a mistyped option is a usage error, not a crash: no stack trace
    io.stderr.write(`tessera: ${(error as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (error instanceof ConfigError || error instanceof DataDirLockedError) {
    io.stderr.write(`tessera: ${error.message}\n`)
  } else if (error instanceof TesseraError) {
    io.stderr.write(
      `tessera: ${error.detail}${error.errors ? ` ${error.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}` : ''}\n`,
    )
  } else {
    io.stderr.write(`tessera: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  }
  return 1
}
