import { sql } from 'kysely'
import type { UserRow } from './database.js'
import type { Db } from './db.js'
import { preparedAs } from './postgres-pool.js'
import { toUser, type UserRecord } from './records.js'
import { nextWholeSecond, type RevocationWriter, withRevocations } from './revocation-events.js'

export type NewUser = Pick<
  UserRecord,
  'id' | 'email' | 'emailNormalized' | 'name' | 'passwordHash' | 'roles' | 'createdAt'
> &
  Partial<Pick<UserRecord, 'emailVerified' | 'appMetadata'>>

/** What an administrator may change at once (PATCH /admin/users/:id); absent fields stay. */
export interface UserChanges {
  name?: string | null
  email?: { email: string; emailNormalized: string }
  roles?: string[]
  emailVerified?: boolean
  appMetadata?: Record<string, unknown>
}

/** A page of the admin list: users by (created_at, id), after the position `after`. */
export interface UserListQuery {
  /** An email prefix (of the mailbox key) or a name substring, case-insensitive. */
  search?: string | undefined
  role?: string | undefined
  status?: 'active' | 'disabled' | undefined
  limit: number
  after?: UserListPosition | undefined
}

/** Where a page ended: the last user's `created_at` as the database writes it, and its id. */
export interface UserListPosition {
  createdAt: string
  id: string
}

export interface EmailKeyConflict {
  userId: string
  email: string
  createdAt: Date
  /** The account that holds the mailbox key and so signs in with the address (email null once deleted). */
  heldBy: { userId: string; email: string | null }
}

export interface UserStore {
  /** Inserts the user, or answers 'email_taken' when the normalised email exists already. */
  create(user: NewUser): Promise<UserRecord | 'email_taken'>
  findByEmail(emailNormalized: string): Promise<UserRecord | undefined>
  findById(id: string): Promise<UserRecord | undefined>
  setPasswordHash(id: string, passwordHash: string, at: Date): Promise<void>
  /**
   * Replaces the hash `from` by `to` (a login's upgrade to argon2id); false, changing nothing, when
   * the account's hash is no longer `from` (changed or reset since the login read it).
   */
  upgradePasswordHash(id: string, from: string, to: string, at: Date): Promise<boolean>
  /** Removes the password: the account then signs in only by a mailed link until one is set by reset. */
  removePassword(id: string, at: Date): Promise<void>
  /** Sets the roles; the user's access tokens issued before are stale (a `user` revocation event). */
  setRoles(id: string, roles: string[], at: Date): Promise<void>
  /** Marks the email verified, if it is still the user's address. */
  markEmailVerified(id: string, email: string, at: Date): Promise<boolean>
  /** Sets the time the account was disabled (disable: its access tokens go stale) or clears it (enable). */
  setDisabled(id: string, disabledAt: Date | null, at: Date): Promise<void>
  /** Accounts parked by migration 0005 because another holds their mailbox key, oldest first. */
  emailKeyConflicts(): Promise<EmailKeyConflict[]>
  /**
   * Deletes the user; sessions, refresh tokens and one-time tokens go with it (foreign keys
   * cascade), and a `user` revocation event says its access tokens are dead.
   */
  delete(id: string, at: Date): Promise<boolean>
  /**
   * Applies an administrator's changes; with `staleTokens` (roles, email, its verification or the
   * app metadata changed: what access tokens carry) a `user` revocation event too. Undefined when
   * the user does not exist.
   */
  update(id: string, changes: UserChanges, at: Date, staleTokens: boolean): Promise<UserRecord | undefined>
  /** Records a sign-in that opened a session. */
  touchLastLogin(id: string, at: Date): Promise<void>
  /** A page of users oldest first, and where the next page starts (undefined on the last page). */
  list(query: UserListQuery): Promise<{ users: UserRecord[]; next: UserListPosition | undefined }>
}

/** `%` and `_` are wildcards of LIKE: a search for them finds them literally. */
const likeEscaped = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`)

export interface UserStoreOptions {
  /** Seconds an access token lives: a `user` event is kept until the last stale token expires. */
  accessTokenTtl: number
  writer: RevocationWriter
}

export function createUserStore(db: Db, options: UserStoreOptions): UserStore {
  /**
   * Runs `change` (which locks the user's row), then makes the user's access tokens issued before
   * the next whole second stale: `tokens_not_before` for this server's Bearer routes and a `user`
   * event for the services following the feed, in one transaction (the caller's, or its own).
   */
  function withStaleTokens<T>(id: string, at: Date, change: (tx: Db) => Promise<T>): Promise<T> {
    const notBefore = nextWholeSecond(at)
    const expiresAt = new Date(notBefore.getTime() + options.accessTokenTtl * 1000)
    return withRevocations(db, options.writer, async (tx, record) => {
      const result = await change(tx)
      // a deleted user has no row left to mark: the event alone says its tokens are dead
      await tx
        .updateTable('users')
        .set({ tokens_not_before: sql`greatest(tokens_not_before, ${notBefore})` })
        .where('id', '=', id)
        .execute()
      record([{ kind: 'user', sub: id, notBefore, expiresAt, at }])
      return result
    })
  }

  return {
    async create(user) {
      // ON CONFLICT rather than catching the unique violation: a failed INSERT would abort the
      // caller's transaction on PostgreSQL
      const row = await db
        .insertInto('users')
        .values({
          id: user.id,
          email: user.email,
          email_normalized: user.emailNormalized,
          name: user.name,
          password_hash: user.passwordHash,
          roles: user.roles,
          created_at: user.createdAt,
          updated_at: user.createdAt,
          ...(user.emailVerified === undefined ? {} : { email_verified: user.emailVerified }),
          ...(user.appMetadata === undefined ? {} : { app_metadata: JSON.stringify(user.appMetadata) }),
        })
        .onConflict((oc) => oc.column('email_normalized').doNothing())
        .returningAll()
        .executeTakeFirst()
      return row ? toUser(row) : 'email_taken'
    },
    async findByEmail(emailNormalized) {
      // prepared: the first statement of every login
      const { rows } = await sql<UserRow>`${sql.raw(preparedAs('find_user_by_email'))}select * from users
        where email_normalized = ${emailNormalized}`.execute(db)
      const row = rows[0]
      return row && toUser(row)
    },
    async findById(id) {
      const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toUser(row)
    },
    async setPasswordHash(id, passwordHash, at) {
      await db
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: at })
        .where('id', '=', id)
        .execute()
    },
    async upgradePasswordHash(id, from, to, at) {
      const result = await db
        .updateTable('users')
        .set({ password_hash: to, updated_at: at })
        .where('id', '=', id)
        .where('password_hash', '=', from)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async removePassword(id, at) {
      await db
        .updateTable('users')
        .set({ password_hash: null, updated_at: at })
        .where('id', '=', id)
        .execute()
    },
    async markEmailVerified(id, email, at) {
      const result = await db
        .updateTable('users')
        .set({ email_verified: true, updated_at: at })
        .where('id', '=', id)
        .where('email', '=', email)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async setRoles(id, roles, at) {
      await withStaleTokens(id, at, (tx) =>
        tx.updateTable('users').set({ roles, updated_at: at }).where('id', '=', id).execute(),
      )
    },
    async setDisabled(id, disabledAt, at) {
      const change = (tx: Db) =>
        tx
          .updateTable('users')
          .set({ disabled_at: disabledAt, updated_at: at })
          .where('id', '=', id)
          .execute()
      // enabling makes no token stale: those issued before the disable stay stale
      if (disabledAt === null) await change(db)
      else await withStaleTokens(id, at, change)
    },
    async emailKeyConflicts() {
      const rows = await db
        .selectFrom('email_key_conflicts as c')
        .innerJoin('users as parked', 'parked.id', 'c.user_id')
        .leftJoin('users as holder', 'holder.id', 'c.held_by')
        .select([
          'parked.id as userId',
          'parked.email as email',
          'parked.created_at as createdAt',
          'c.held_by as heldById',
          'holder.email as heldByEmail',
        ])
        .orderBy('parked.created_at')
        .execute()
      return rows.map(({ heldById, heldByEmail, ...row }) => ({
        ...row,
        heldBy: { userId: heldById, email: heldByEmail },
      }))
    },
    async delete(id, at) {
      return withStaleTokens(id, at, async (tx) => {
        const result = await tx.deleteFrom('users').where('id', '=', id).executeTakeFirst()
        return result.numDeletedRows > 0n
      })
    },
    async update(id, changes, at, staleTokens) {
      const change = async (tx: Db) => {
        const row = await tx
          .updateTable('users')
          .set({
            updated_at: at,
            ...(changes.name === undefined ? {} : { name: changes.name }),
            ...(changes.email === undefined
              ? {}
              : { email: changes.email.email, email_normalized: changes.email.emailNormalized }),
            ...(changes.roles === undefined ? {} : { roles: changes.roles }),
            ...(changes.emailVerified === undefined ? {} : { email_verified: changes.emailVerified }),
            ...(changes.appMetadata === undefined
              ? {}
              : { app_metadata: JSON.stringify(changes.appMetadata) }),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst()
        return row && toUser(row)
      }
      if (!staleTokens) return change(db)
      const updated = await withStaleTokens(id, at, change)
      // the row as it is after the change, tokens_not_before included
      if (!updated) return undefined
      const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toUser(row)
    },
    async touchLastLogin(id, at) {
      await db.updateTable('users').set({ last_login_at: at }).where('id', '=', id).execute()
    },
    async list(query) {
      let select = db
        .selectFrom('users')
        .selectAll()
        .select(sql<string>`created_at::text`.as('position_at'))
        .orderBy('created_at')
        .orderBy('id')
        .limit(query.limit + 1)
      if (query.search !== undefined && query.search !== '') {
        const prefix = `${likeEscaped(query.search.normalize('NFKC').toLowerCase())}%`
        const part = `%${likeEscaped(query.search)}%`
        select = select.where(
          sql<boolean>`(email_normalized like ${prefix} escape '\\' or lower(email) like ${prefix} escape '\\' or name ilike ${part} escape '\\')`,
        )
      }
      if (query.role !== undefined) select = select.where(sql<boolean>`${query.role} = any(roles)`)
      if (query.status === 'active') select = select.where('disabled_at', 'is', null)
      if (query.status === 'disabled') select = select.where('disabled_at', 'is not', null)
      if (query.after !== undefined) {
        select = select.where(
          sql<boolean>`(created_at, id) > (${query.after.createdAt}::timestamptz, ${query.after.id}::uuid)`,
        )
      }
      const rows = await select.execute()
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        users: page.map(({ position_at: _, ...row }) => toUser(row)),
        next: rows.length > query.limit && last ? { createdAt: last.position_at, id: last.id } : undefined,
      }
    },
  }
}
