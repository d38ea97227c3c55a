import { type DestinationStream, type Logger, pino, stdSerializers } from 'pino'
import type { Config } from './config.js'

/** Never logged: credentials in headers, passwords and tokens in bodies. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'body.password',
  'body.currentPassword',
  'body.newPassword',
  'body.refreshToken',
  'body.token',
]

/** Query parameters whose values never reach a log: the reset and verification pages open with `?token=`. */
const SECRET_QUERY_PARAMS = /^(token|refresh_?token|access_?token|code|password|secret)$/i

/** The URL with the values of secret-looking query parameters replaced. */
export function redactUrl(url: string): string {
  const query = url.indexOf('?')
  if (query === -1) return url
  const params = url
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const name = pair.split('=', 1)[0] ?? ''
      let decoded = name
      try {
        decoded = decodeURIComponent(name)
      } catch {
        // a malformed escape: judge the raw name
      }
      return SECRET_QUERY_PARAMS.test(decoded) ? `${name}=[redacted]` : pair
    })
  return `${url.slice(0, query)}?${params.join('&')}`
}

interface LoggedRequest {
  method?: string
  url?: string
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

/**
 * Fastify's request serializer (method, url, host, remote address and port), with the URL's secret
 * query values redacted. Headers and bodies are never serialized at all.
 */
function serializeRequest(request: LoggedRequest) {
  return {
    method: request.method,
    url: request.url === undefined ? undefined : redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

// what an error may bring into a log line. Not `detail`, `where`, `query`, `params` (PGlite and pg
// put the SQL, its parameters, or a row's values there: a password hash, an email), nor any
// other property a library hangs on its errors
const ERROR_FIELDS = [
  'type',
  'message',
  'stack',
  'code',
  'statusCode',
  'severity',
  'routine',
  'errno',
  'syscall',
  // TesseraError's words for the log (never sent): which invariant broke
  'reason',
]

/** An error as it may be logged: its kind, message, stack and codes, its causes likewise; nothing else. */
export function serializeError(error: unknown, depth = 0): Record<string, unknown> | unknown {
  if (!(error instanceof Error)) return error
  const full = stdSerializers.err(error) as unknown as Record<string, unknown>
  const safe: Record<string, unknown> = {}
  for (const field of ERROR_FIELDS) if (full[field] !== undefined) safe[field] = full[field]
  if (error.cause !== undefined && depth < 5) safe.cause = serializeError(error.cause, depth + 1)
  return safe
}

/** The process logger: JSON lines to stdout, or to `destination` (tests). */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { req: serializeRequest, err: serializeError },
    },
    destination,
  )
}
