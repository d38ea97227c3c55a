import { isEmail, normalizeEmail } from '../email-address.js'
import { parseHash } from '../passwords/hash-formats.js'
import { ROLE_PATTERN } from '../roles.js'
import type { ImportUser } from '../store/user-transfer.js'
import { unstorableText } from '../text.js'
import { APP_METADATA_MAX_BYTES, unstorableIn } from './app-metadata.js'

/** The fields of an import row; any other is refused, so a typo never drops data silently. */
export const IMPORT_FIELDS = [
  'email',
  'passwordHash',
  'name',
  'roles',
  'emailVerified',
  'createdAt',
  'appMetadata',
] as const

export const NAME_MAX_LENGTH = 256
export const ROLES_MAX = 32

/** A row that cannot be imported: its line, why, and its email when it has one (never its hash). */
export interface RejectedRow {
  line: number
  reason: string
  email?: string
}

export type CheckedRow = { ok: true; user: ImportUser } | ({ ok: false } & RejectedRow)

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Checks one row of an import file (already parsed from JSON or CSV) and answers the user to
 * store, or the reason it is refused. `newId` names the account when it is inserted.
 */
export function checkImportRow(raw: unknown, line: number, newId: () => string): CheckedRow {
  if (!isObject(raw)) return { ok: false, line, reason: 'not a JSON object' }
  const email = typeof raw.email === 'string' ? raw.email.slice(0, 320) : undefined
  const reject = (reason: string): CheckedRow => ({
    ok: false,
    line,
    reason,
    ...(email?.isWellFormed() && !email.includes('\u0000') ? { email } : {}),
  })
  if ('password' in raw)
    return reject('a plaintext "password" is refused: give the old system\'s hash as passwordHash')
  const unknown = Object.keys(raw).find((key) => !(IMPORT_FIELDS as readonly string[]).includes(key))
  if (unknown !== undefined) return reject(`unknown field "${unknown.slice(0, 64)}"`)

  if (email === undefined) return reject('email is missing')
  const address = normalizeEmail(email)
  if (!isEmail(address.email)) return reject('email is not an email address')
  const user: ImportUser = { line, id: newId(), email: address.email, emailNormalized: address.normalized }

  if (raw.passwordHash !== undefined && raw.passwordHash !== null) {
    if (typeof raw.passwordHash !== 'string') return reject('passwordHash must be a string')
    const verdict = parseHash(raw.passwordHash)
    if (!verdict.ok) return reject(`passwordHash: ${verdict.reason}`)
    user.passwordHash = raw.passwordHash
  }
  if (raw.name !== undefined) {
    if (raw.name !== null && typeof raw.name !== 'string') return reject('name must be a string')
    const name = raw.name?.trim().normalize('NFC') || null
    if (name !== null) {
      const bad = unstorableText(name)
      if (bad) return reject(`name ${bad}`)
      if (name.length > NAME_MAX_LENGTH) return reject(`name is longer than ${NAME_MAX_LENGTH} characters`)
    }
    user.name = name
  }
  if (raw.roles !== undefined) {
    if (!Array.isArray(raw.roles) || raw.roles.some((role) => typeof role !== 'string'))
      return reject('roles must be a list of role names')
    const bad = raw.roles.find((role: string) => !ROLE_PATTERN.test(role))
    if (bad !== undefined)
      return reject(
        `"${String(bad).slice(0, 64)}" is not a role name (a letter, then letters, digits, _ . : -)`,
      )
    const roles = [...new Set(raw.roles as string[])]
    if (roles.length > ROLES_MAX) return reject(`more than ${ROLES_MAX} roles`)
    user.roles = roles
  }
  if (raw.emailVerified !== undefined) {
    if (typeof raw.emailVerified !== 'boolean') return reject('emailVerified must be true or false')
    user.emailVerified = raw.emailVerified
  }
  if (raw.createdAt !== undefined) {
    const at = typeof raw.createdAt === 'string' ? new Date(raw.createdAt) : undefined
    if (at === undefined || Number.isNaN(at.getTime()) || !/^\d{4}-\d\d-\d\d/.test(raw.createdAt as string))
      return reject('createdAt must be an ISO 8601 date and time')
    // PostgreSQL has no year 0, and a date before 1970 or in the future is no account's creation
    const year = at.getUTCFullYear()
    if (year < 1970 || year > 9999) return reject('createdAt must be between 1970 and 9999')
    user.createdAt = at
  }
  if (raw.appMetadata !== undefined) {
    if (!isObject(raw.appMetadata)) return reject('appMetadata must be a JSON object')
    const bad = unstorableIn(raw.appMetadata)
    if (bad) return reject(`appMetadata: a string ${bad}`)
    if (Buffer.byteLength(JSON.stringify(raw.appMetadata)) > APP_METADATA_MAX_BYTES)
      return reject(`appMetadata is larger than ${APP_METADATA_MAX_BYTES} bytes as JSON`)
    user.appMetadata = raw.appMetadata
  }
  return { ok: true, user }
}

/**
 * A CSV record (header names to cell text) as a row: an empty cell is an absent field; roles are
 * separated by spaces or `;`; emailVerified is true/false (or 1/0); appMetadata is JSON text.
 */
export function csvRecordToRow(record: Record<string, string>): Record<string, unknown> | string {
  const row: Record<string, unknown> = {}
  for (const [key, cell] of Object.entries(record)) {
    if (cell === '') continue
    if (key === 'roles') row.roles = cell.split(/[\s;]+/).filter((role) => role !== '')
    else if (key === 'emailVerified') {
      const value = cell.trim().toLowerCase()
      row.emailVerified =
        value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : cell
    } else if (key === 'appMetadata') {
      try {
        row.appMetadata = JSON.parse(cell)
      } catch {
        return 'appMetadata is not valid JSON'
      }
    } else row[key] = cell
  }
  return row
}
