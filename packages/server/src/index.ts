/**
 * `@tessera/server` as a library: run the Tessera auth server inside your own process instead of
 * through the `tessera` CLI. Read the configuration once from the environment with
 * {@link parseConfig} (it throws a {@link ConfigError} naming each bad variable), build the server
 * with {@link createTessera}, then listen on `tessera.app` yourself and call `tessera.close()` on
 * shutdown.
 *
 * ```ts
 * import { createLogger, createTessera, parseConfig } from '@tessera/server'
 *
 * const config = parseConfig(process.env)
 * const tessera = await createTessera(config, { logger: createLogger(config) })
 * await tessera.app.listen({ host: config.host, port: config.port })
 * ```
 *
 * @packageDocumentation
 */
export { type Config, ConfigError, parseConfig } from './config.js'
export { createLogger } from './logging.js'
export { createTessera, type Tessera, type TesseraOptions } from './tessera.js'
