import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { prepareDatabase } from '../cluster/prepare.js'
import { runPrimary } from '../cluster/primary.js'
import { linkToPrimary, type PrimaryLink } from '../cluster/worker.js'
import { type Config, ConfigError, defaultHashConcurrency, parseConfig, parseWorkers } from '../config.js'
import { createLogger } from '../logging.js'
import { createTessera } from '../tessera.js'
import { type CliIo, usage } from './io.js'

/** `tessera serve [--workers N|auto]`: resolves with the exit code once stopped. */
export async function serve(config: Config, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { workers: { type: 'string' } }, strict: true })
  let workers = config.workers
  if (values.workers !== undefined) {
    try {
      workers = parseWorkers('--workers', values.workers)
    } catch (error) {
      // a bad option value is a usage error, as parseArgs' own are
      if (error instanceof ConfigError) return usage(io, `tessera: ${error.message}\n`)
      throw error
    }
  }
  // a worker of `serve --workers` runs this same command line: it serves, as a single process does
  if (cluster.isWorker) {
    // the cores are shared by every worker: unless told otherwise, each hashes its share of them at
    // once (the worker counts them from the command line and environment it shares with its primary)
    const workerConfig =
      io.env.TESSERA_HASH_CONCURRENCY === undefined
        ? parseConfig({
            ...io.env,
            TESSERA_HASH_CONCURRENCY: String(defaultHashConcurrency(io.env, workers)),
          })
        : config
    try {
      return await serveOne(
        workerConfig,
        createLogger(workerConfig, io.stdout),
        io,
        linkToPrimary(process, { scrapeTimeoutMs: 5000 }),
      )
    } finally {
      // the channel to the primary would keep the process alive: once served (or failed), let go
      cluster.worker?.disconnect()
    }
  }
  const logger = createLogger(config, io.stdout)
  if (workers === 1) return serveOne(config, logger, io, undefined)
  if (config.database.kind !== 'postgres') {
    const which =
      config.database.kind === 'pglite-memory'
        ? 'the in-memory embedded database'
        : `the embedded database (PGlite in ${config.dataDir})`
    const asked = values.workers === undefined ? `TESSERA_WORKERS=${workers}` : `--workers ${workers}`
    return usage(
      io,
      `tessera: ${asked} needs PostgreSQL: ${which} can be opened by one process only. ` +
        'Set DATABASE_URL=postgres://… to run several workers, or run one.\n',
    )
  }
  await prepareDatabase(config, logger)
  return runPrimary({
    workers,
    logger,
    // a worker drains for TESSERA_SHUTDOWN_TIMEOUT, then closes the database: time enough for both
    forceExitAfterMs: config.shutdownTimeout * 1000 + 5000,
    onListening: (address) => io.stdout.write(banner(config, address, workers)),
  })
}

/** Serves in this process: alone, or as a worker of `serve --workers` linked to its primary. */
async function serveOne(
  config: Config,
  logger: Logger,
  io: CliIo,
  primary: PrimaryLink | undefined,
): Promise<number> {
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
  else io.stdout.write(banner(config, address, 1))
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down: draining requests')
      // a client that stalls mid-request must not keep the process alive (Node would wait up to its
      // 5-minute requestTimeout): after TESSERA_SHUTDOWN_TIMEOUT, cut the connections still open
      const drainMs = config.shutdownTimeout * 1000
      const deadline = setTimeout(() => {
        logger.warn({ afterMs: drainMs }, 'shutting down: closing connections still open')
        tessera.app.server.closeAllConnections()
      }, drainMs)
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
    const { signal } = io
    if (signal) {
      // run in-process (a test): the caller stops it, and the process's signals stay the caller's
      if (signal.aborted) onSignal('abort')
      else signal.addEventListener('abort', () => onSignal('abort'), { once: true })
      return
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
