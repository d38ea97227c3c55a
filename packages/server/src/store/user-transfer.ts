import { isDeepStrictEqual } from 'node:util'
import { sql } from 'kysely'
import type { Db } from './db.js'
import { appendEvents, type NewRevocationEvent, nextWholeSecond } from './revocation-events.js'

/** One valid row of an import file, as stored; an absent field keeps the default (or, updating, the stored value). */
export interface ImportUser {
  /** The line of the file the row came from (its last line for a multi-line CSV record). */
  line: number
  id: string
  email: string
  emailNormalized: string
  name?: string | null
  passwordHash?: string
  roles?: string[]
  emailVerified?: boolean
  createdAt?: Date
  appMetadata?: Record<string, unknown>
}

/**
 * What became of a row: inserted; an existing account changed (`--update`) or left as it was;
 * an existing account skipped (no `--update`); the address seen earlier in this same run; or an
 * update refused because it would hand roles or a verified address to an account whose address
 * nobody proved (see importUpdating).
 */
export type ImportOutcome = 'imported' | 'updated' | 'unchanged' | 'skipped' | 'duplicate' | 'unproven'

export interface ImportBatchOptions {
  update: boolean
  /**
   * The run's `updated_at` for every row it writes, to tell an address met again later in the
   * file (written by this run) from one that existed before it (a re-run after an interruption)
   * without holding every address of the file in memory.
   */
  runMarker: Date
  /** Seconds an access token lives: how long a `user` revocation event for a roles change is kept. */
  accessTokenTtl: number
}

export interface ExportedUser {
  id: string
  email: string
  name: string | null
  passwordHash: string | null
  roles: string[]
  emailVerified: boolean
  createdAt: Date
  appMetadata: Record<string, unknown>
}

export interface UserTransferStore {
  /**
   * Writes one batch in one transaction: new addresses inserted in one statement; existing ones
   * skipped, or with `update` changed in one statement (roles changes make the user's access
   * tokens stale, as `tessera users roles` does). Answers each row's outcome by line.
   */
  importBatch(rows: readonly ImportUser[], options: ImportBatchOptions): Promise<Map<number, ImportOutcome>>
  /** Of these mailbox keys, those an account holds already (a dry run's count). */
  existingKeys(keys: readonly string[]): Promise<Set<string>>
  /** Up to `limit` accounts with an id above `after` (keyset pagination), in id order. */
  exportPage(after: string | undefined, limit: number): Promise<ExportedUser[]>
}

interface ExistingRow {
  id: string
  email_normalized: string
  name: string | null
  roles: string[]
  email_verified: boolean
  app_metadata: Record<string, unknown>
  no_password: boolean
  seen: boolean
}

// the columns of a row as jsonb_to_recordset reads them from the one JSON parameter of a batch
const RECORD = sql`r(id uuid, email text, email_normalized text, name text, password_hash text, roles text[],
  email_verified boolean, created_at timestamptz, app_metadata jsonb)`

const toRecord = (row: ImportUser) => ({
  id: row.id,
  email: row.email,
  email_normalized: row.emailNormalized,
  name: row.name ?? null,
  password_hash: row.passwordHash ?? null,
  roles: row.roles ?? null,
  email_verified: row.emailVerified ?? null,
  created_at: row.createdAt?.toISOString() ?? null,
  app_metadata: row.appMetadata ?? null,
})

export function createUserTransferStore(db: Db): UserTransferStore {
  async function insertNew(tx: Db, rows: readonly ImportUser[], marker: Date): Promise<Set<string>> {
    if (rows.length === 0) return new Set()
    // one statement for the batch: a JSON array as the single parameter, unpacked by the server
    const { rows: inserted } = await sql<{ email_normalized: string }>`
      insert into users (id, email, email_normalized, name, password_hash, roles, email_verified,
        created_at, updated_at, app_metadata)
      select r.id, r.email, r.email_normalized, r.name, r.password_hash, coalesce(r.roles, '{user}'),
        coalesce(r.email_verified, false), coalesce(r.created_at, ${marker}), ${marker},
        coalesce(r.app_metadata, '{}'::jsonb)
      from jsonb_to_recordset(${JSON.stringify(rows.map(toRecord))}::jsonb) as ${RECORD}
      on conflict (email_normalized) do nothing
      returning email_normalized
    `.execute(tx)
    return new Set(inserted.map((row) => row.email_normalized))
  }

  /** Existing accounts among `rows`, locked for the batch; `seen` when this run wrote them already. */
  async function existing(tx: Db, keys: readonly string[], marker: Date, lock: boolean) {
    const { rows } = await sql<ExistingRow>`
      select id, email_normalized, name, roles, email_verified, app_metadata, password_hash is null as no_password,
        updated_at = ${marker} as seen
      from users where email_normalized = any(${keys}::text[])
      ${lock ? sql`for update` : sql``}
    `.execute(tx)
    return new Map(rows.map((row) => [row.email_normalized, row]))
  }

  async function importSkipping(tx: Db, rows: readonly ImportUser[], options: ImportBatchOptions) {
    const outcomes = new Map<number, ImportOutcome>()
    const inserted = await insertNew(tx, rows, options.runMarker)
    const rest = rows.filter((row) => !inserted.has(row.emailNormalized))
    const found =
      rest.length > 0
        ? await existing(
            tx,
            rest.map((row) => row.emailNormalized),
            options.runMarker,
            false,
          )
        : new Map<string, ExistingRow>()
    for (const row of rows) {
      if (inserted.has(row.emailNormalized)) outcomes.set(row.line, 'imported')
      else outcomes.set(row.line, found.get(row.emailNormalized)?.seen ? 'duplicate' : 'skipped')
    }
    return outcomes
  }

  async function importUpdating(tx: Db, rows: readonly ImportUser[], options: ImportBatchOptions) {
    const outcomes = new Map<number, ImportOutcome>()
    const marker = options.runMarker
    const found = await existing(
      tx,
      rows.map((row) => row.emailNormalized),
      marker,
      true,
    )
    const fresh: ImportUser[] = []
    const changes: Record<string, unknown>[] = []
    const events: NewRevocationEvent[] = []
    const notBefore = nextWholeSecond(marker)
    for (const row of rows) {
      const current = found.get(row.emailNormalized)
      if (!current) {
        fresh.push(row)
        continue
      }
      if (current.seen) {
        outcomes.set(row.line, 'duplicate')
        continue
      }
      const name = row.name === undefined ? current.name : row.name
      const roles = row.roles ?? current.roles
      const emailVerified = row.emailVerified ?? current.email_verified
      const appMetadata = row.appMetadata ?? current.app_metadata
      const rolesChanged = !isDeepStrictEqual(roles, current.roles)
      // what access tokens carry: a change makes the user's older tokens stale, as the admin API does
      const claimsChanged =
        rolesChanged ||
        emailVerified !== current.email_verified ||
        !isDeepStrictEqual(appMetadata, current.app_metadata)
      const changed =
        claimsChanged || name !== current.name || (row.passwordHash !== undefined && current.no_password)
      if (!changed) {
        outcomes.set(row.line, 'unchanged')
        continue
      }
      // Anyone may have registered the address here before the import, with a password of their
      // own: the old system's roles or its word that the address is verified must not go to them
      const escalates = rolesChanged || (emailVerified && !current.email_verified)
      if (escalates && !current.email_verified && !current.no_password) {
        outcomes.set(row.line, 'unproven')
        continue
      }
      changes.push({
        id: current.id,
        name,
        roles,
        email_verified: emailVerified,
        app_metadata: appMetadata,
        password_hash: row.passwordHash ?? null,
        stale: claimsChanged,
        line: row.line,
      })
      if (claimsChanged) {
        const expiresAt = new Date(notBefore.getTime() + options.accessTokenTtl * 1000)
        events.push({ kind: 'user', sub: current.id, notBefore, expiresAt, at: marker })
      }
    }
    if (changes.length > 0) {
      // a password only where the account has none: a hash from the old system must not undo a
      // password changed here, nor the argon2id a login upgraded it to
      const { rows: updated } = await sql<{ line: number }>`
        update users u set name = r.name, roles = r.roles, email_verified = r.email_verified,
          app_metadata = r.app_metadata, password_hash = coalesce(u.password_hash, r.password_hash),
          updated_at = ${marker},
          tokens_not_before = case when r.stale then greatest(u.tokens_not_before, ${notBefore}::timestamptz)
            else u.tokens_not_before end
        from jsonb_to_recordset(${JSON.stringify(changes)}::jsonb) as r(id uuid, name text, roles text[],
          email_verified boolean, app_metadata jsonb, password_hash text, stale boolean, line int)
        where u.id = r.id
        returning r.line
      `.execute(tx)
      for (const row of updated) outcomes.set(row.line, 'updated')
      await appendEvents(tx, events)
    }
    const inserted = await insertNew(tx, fresh, marker)
    // an address inserted by another writer since the select: left to it
    for (const row of fresh)
      outcomes.set(row.line, inserted.has(row.emailNormalized) ? 'imported' : 'skipped')
    return outcomes
  }

  return {
    importBatch(rows, options) {
      return db
        .transaction()
        .execute((tx) =>
          options.update ? importUpdating(tx, rows, options) : importSkipping(tx, rows, options),
        )
    },
    async existingKeys(keys) {
      if (keys.length === 0) return new Set()
      const { rows } = await sql<{ email_normalized: string }>`
        select email_normalized from users where email_normalized = any(${keys}::text[])
      `.execute(db)
      return new Set(rows.map((row) => row.email_normalized))
    },
    async exportPage(after, limit) {
      const { rows } = await sql<{
        id: string
        email: string
        name: string | null
        password_hash: string | null
        roles: string[]
        email_verified: boolean
        created_at: Date
        app_metadata: Record<string, unknown>
      }>`
        select id, email, name, password_hash, roles, email_verified, created_at, app_metadata
        from users ${after === undefined ? sql`` : sql`where id > ${after}::uuid`}
        order by id limit ${limit}
      `.execute(db)
      return rows.map((row) => ({
        id: row.id,
        email: row.email,
        name: row.name,
        passwordHash: row.password_hash,
        roles: row.roles,
        emailVerified: row.email_verified,
        createdAt: row.created_at,
        appMetadata: row.app_metadata,
      }))
    },
  }
}
