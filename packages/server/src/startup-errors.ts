import type { Config } from './config.js'

/**
 * The one line a person can act on for an error that stops the server or a CLI command before it
 * does anything: what failed, and the setting to change. Undefined for anything else (a bug,
 * which keeps its stack trace).
 */
export function describeStartupError(error: unknown, config: Config): string | undefined {
  const code = fieldOf(error, 'code')
  if (code === undefined) return undefined
  const database = config.database.kind === 'postgres' ? postgresTarget(config.database.url) : undefined

  if (database) {
    const where = `PostgreSQL at ${database.host}`
    const setting = `(DATABASE_URL=${database.masked})`
    switch (code) {
      case '3D000':
        return `database "${database.name}" does not exist on ${where} ${setting}: create it (createdb ${database.name}) or fix DATABASE_URL.`
      case '28P01':
        return `PostgreSQL refused the password of user "${database.user}" ${setting}: fix the password in DATABASE_URL.`
      case '28000':
        return `PostgreSQL refused user "${database.user}" ${setting}: the role does not exist or pg_hba.conf does not let it in; fix DATABASE_URL or the server's access rules.`
      case 'ECONNREFUSED':
        return `cannot connect to ${where}: connection refused ${setting}. Is PostgreSQL running there? Fix DATABASE_URL otherwise.`
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `cannot resolve the PostgreSQL host "${database.hostname}" ${setting}: fix DATABASE_URL.`
      case 'ETIMEDOUT':
        return `cannot connect to ${where}: timed out ${setting}. Is the address reachable? Fix DATABASE_URL otherwise.`
    }
  }
  if (fieldOf(error, 'syscall') === 'listen') {
    const listen = listenError(code, config)
    if (listen) return listen
  }
  const path = fieldOf(error, 'path')
  if (path !== undefined && ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST'].includes(code)) {
    if (config.database.kind === 'pglite-dir' && path.startsWith(config.dataDir)) {
      return `cannot write the data dir ${config.dataDir} (TESSERA_DATA_DIR): ${reason(code)} at ${path}. Choose a writable directory with TESSERA_DATA_DIR.`
    }
  }
  return undefined
}

function listenError(code: string, config: Config): string | undefined {
  const at = `${config.host}:${config.port}`
  if (code === 'EADDRINUSE') {
    return `${at} is already in use: stop the other process, or set PORT (or HOST) to listen elsewhere.`
  }
  if (code === 'EADDRNOTAVAIL') {
    return `cannot listen on ${at}: HOST ${config.host} is not an address of this machine; fix HOST.`
  }
  if (code === 'EACCES') {
    return `not allowed to listen on ${at}: set PORT to 1024 or above (lower ports need privileges).`
  }
  return undefined
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'a file is in the way',
}
const reason = (code: string): string => REASONS[code] ?? code

/**
 * A string property of the error or of its nearest cause that has one: `code` (a SQLSTATE or a Node
 * error code), `path`, `syscall`.
 */
function fieldOf(error: unknown, name: 'code' | 'path' | 'syscall'): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') return undefined
    const value = (current as Record<string, unknown>)[name]
    if (typeof value === 'string') return value
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

interface PostgresTarget {
  host: string
  hostname: string
  name: string
  user: string
  /** DATABASE_URL with its password replaced by `****`. */
  masked: string
}

function postgresTarget(url: string): PostgresTarget {
  const parsed = new URL(url)
  const user = decodeURIComponent(parsed.username) || 'postgres'
  if (parsed.password) parsed.password = '****'
  return {
    host: `${parsed.hostname}:${parsed.port || '5432'}`,
    hostname: parsed.hostname,
    name: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || user,
    user,
    masked: parsed.href,
  }
}
