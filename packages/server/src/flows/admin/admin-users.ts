import { randomUUID } from 'node:crypto'
import { isEmail, normalizeEmail } from '../../email-address.js'
import { TesseraError } from '../../errors.js'
import { inviteMail, linkWithToken } from '../../mail/templates.js'
import { sqlState } from '../../store/errors.js'
import type { IdentityRecord } from '../../store/identities.js'
import type { SessionRecord, UserRecord } from '../../store/records.js'
import type { UserChanges } from '../../store/users.js'
import { webhookUser } from '../../store/webhooks.js'
import { unstorableText } from '../../text.js'
import { checkAppMetadata } from '../app-metadata.js'
import type { FlowDeps } from '../deps.js'
import { type Actor, checkRoles, findUser } from '../manage-users.js'
import { type MfaStatus, mfaStatus } from '../mfa/manage-totp.js'
import { newOneTimeToken } from '../one-time-token.js'
import { decodeCursor, encodeCursor } from './cursor.js'

const UNIQUE_VIOLATION = '23505'

/** A name as stored: trimmed, NFC, empty as none; VALIDATION_FAILED when it cannot be stored. */
export function storableName(name: string | null): string | null {
  if (name === null) return null
  const bad = unstorableText(name)
  if (bad) throw new TesseraError('VALIDATION_FAILED', { errors: [{ field: 'name', message: bad }] })
  return name.trim().normalize('NFC') || null
}

/** The address and mailbox key of an email, or VALIDATION_FAILED on `field`. */
export function checkedEmail(raw: string, field = 'email'): { email: string; normalized: string } {
  const { email, normalized } = normalizeEmail(raw)
  if (!isEmail(email)) {
    throw new TesseraError('VALIDATION_FAILED', { errors: [{ field, message: 'must be an email address' }] })
  }
  return { email, normalized }
}

/** A lost race for an address (the unique key said no): EMAIL_TAKEN, like the check before it. */
export async function emailTakenOnConflict<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new TesseraError('EMAIL_TAKEN', { cause: error })
    throw error
  }
}

export interface UserListInput {
  query?: string | undefined
  role?: string | undefined
  status?: 'active' | 'disabled' | undefined
  limit: number
  cursor?: string | undefined
}

/** GET /admin/users: a page of users oldest first, and the cursor of the next page (null on the last). */
export async function listUsers(
  deps: Pick<FlowDeps, 'stores'>,
  input: UserListInput,
): Promise<{ users: UserRecord[]; nextCursor: string | null }> {
  const page = await deps.stores.users.list({
    search: input.query?.trim() || undefined,
    role: input.role,
    status: input.status,
    limit: input.limit,
    after: input.cursor === undefined ? undefined : decodeCursor(input.cursor),
  })
  return { users: page.users, nextCursor: page.next ? encodeCursor(page.next) : null }
}

export interface UserDetail {
  user: UserRecord
  mfa: MfaStatus
  identities: IdentityRecord[]
}

/** GET /admin/users/:id: the user with its second factors and provider identities. */
export async function userDetail(deps: Pick<FlowDeps, 'stores'>, id: string): Promise<UserDetail> {
  const user = await findUser(deps.stores, id)
  const [mfa, identities] = await Promise.all([
    mfaStatus(deps, user.id),
    deps.stores.identities.listForUser(user.id),
  ])
  return { user, mfa, identities }
}

export interface AdminCreateInput {
  email: string
  name?: string | null | undefined
  roles?: string[] | undefined
  password?: string | undefined
  emailVerified?: boolean | undefined
  appMetadata?: Record<string, unknown> | undefined
  /** Mail the user a link to choose a password (a password-reset token living as long as a verification link). */
  invite?: boolean | undefined
}

/**
 * POST /admin/users: creates an account without signing it in. Without a password the account
 * signs in once its user chose one (the invite link, or "Forgot password") or by a magic link.
 */
export async function adminCreateUser(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'policy' | 'mailer' | 'events' | 'clock' | 'config'>,
  actor: Actor,
  input: AdminCreateInput,
): Promise<UserRecord> {
  const { email, normalized } = checkedEmail(input.email)
  const name = storableName(input.name ?? null)
  const roles = [...new Set(input.roles ?? ['user'])]
  checkRoles(roles)
  const appMetadata = input.appMetadata === undefined ? undefined : checkAppMetadata(input.appMetadata)
  if (input.password !== undefined) await deps.policy.check(input.password, { email, name })
  const passwordHash = input.password === undefined ? null : await deps.hasher.hash(input.password)
  const invite = input.invite === true ? newOneTimeToken() : undefined
  const user = await emailTakenOnConflict(() =>
    deps.stores.transaction(async (tx) => {
      const now = deps.clock.now()
      const created = await tx.users.create({
        id: randomUUID(),
        email,
        emailNormalized: normalized,
        name,
        passwordHash,
        roles,
        createdAt: now,
        emailVerified: input.emailVerified ?? false,
        ...(appMetadata === undefined ? {} : { appMetadata }),
      })
      if (created === 'email_taken') throw new TesseraError('EMAIL_TAKEN')
      await tx.webhooks.enqueue({ type: 'user.created', data: { user: webhookUser(created), via: 'admin' } })
      if (invite) {
        // the reset machinery sets the password; an invitation gets the longer life of a verification link
        await tx.oneTimeTokens.issue({
          id: randomUUID(),
          userId: created.id,
          purpose: 'password_reset',
          hash: invite.hash,
          email: created.email,
          createdAt: now,
          expiresAt: new Date(now.getTime() + deps.config.verifyTokenTtl * 1000),
        })
      }
      return created
    }),
  )
  deps.events.record({
    type: 'user.created',
    userId: user.id,
    detail: { actor, invited: invite !== undefined },
  })
  if (invite) {
    deps.mailer.send(
      inviteMail({
        to: user.email,
        link: linkWithToken(deps.config.resetUrl, invite.token),
        expiresInMinutes: Math.round(deps.config.verifyTokenTtl / 60),
      }),
    )
  }
  return user
}

export interface AdminUpdateInput {
  name?: string | null | undefined
  email?: string | undefined
  roles?: string[] | undefined
  emailVerified?: boolean | undefined
  appMetadata?: Record<string, unknown> | undefined
}

/**
 * PATCH /admin/users/:id. A change to what access tokens carry (roles, email, its verification,
 * app metadata) makes the user's tokens stale at once (a `user` revocation event): the next
 * refresh gets the new claims. A new email is taken as given (an administrator vouches for it);
 * it is unverified unless `emailVerified` says otherwise.
 */
export async function adminUpdateUser(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  actor: Actor,
  id: string,
  input: AdminUpdateInput,
): Promise<UserRecord> {
  const changes: UserChanges = {}
  if (input.name !== undefined) changes.name = storableName(input.name)
  if (input.roles !== undefined) {
    checkRoles(input.roles)
    changes.roles = [...new Set(input.roles)]
  }
  if (input.appMetadata !== undefined) changes.appMetadata = checkAppMetadata(input.appMetadata)
  if (input.emailVerified !== undefined) changes.emailVerified = input.emailVerified
  const newEmail = input.email === undefined ? undefined : checkedEmail(input.email)

  const { user, fields } = await emailTakenOnConflict(() =>
    deps.stores.transaction(async (tx) => {
      const before = await findUser(tx, id)
      if (newEmail !== undefined && newEmail.email !== before.email) {
        if (newEmail.normalized !== before.emailNormalized) {
          const holder = await tx.users.findByEmail(newEmail.normalized)
          if (holder) throw new TesseraError('EMAIL_TAKEN')
        }
        changes.email = { email: newEmail.email, emailNormalized: newEmail.normalized }
        // a new mailbox is unverified unless the administrator says it is verified (a change of
        // case or form only is the same mailbox)
        if (newEmail.normalized !== before.emailNormalized) {
          changes.emailVerified ??= false
          // links mailed to the old address (a reset, an invitation, a verification, a magic link,
          // an email change) must not act on the account once it belongs to another mailbox
          const now = deps.clock.now()
          for (const purpose of MAILED_LINK_PURPOSES) await tx.oneTimeTokens.voidAll(before.id, purpose, now)
        }
      }
      const fields = changedFields(before, changes)
      const tokenClaimsChanged = fields.some((field) => TOKEN_FIELDS.has(field))
      const after =
        fields.length === 0
          ? before
          : await tx.users.update(before.id, changes, deps.clock.now(), tokenClaimsChanged)
      if (!after) throw new TesseraError('NOT_FOUND', { detail: `No user with id ${id}.` })
      if (fields.length > 0) {
        await tx.webhooks.enqueue({
          type: 'user.updated',
          data: { user: webhookUser(after), changed: fields },
        })
      }
      return { user: after, fields }
    }),
  )
  if (fields.length > 0) {
    deps.events.record({ type: 'user.updated', userId: user.id, detail: { actor, fields: fields.join(',') } })
  }
  return user
}

/** The one-time links mailed to a user's address. */
const MAILED_LINK_PURPOSES = ['password_reset', 'email_verification', 'magic_link', 'email_change'] as const

/** What access tokens carry: a change to one makes the user's tokens stale. */
const TOKEN_FIELDS: ReadonlySet<string> = new Set(['email', 'roles', 'emailVerified', 'appMetadata'])

/** The fields `changes` really changes, so that a PATCH repeating the values changes nothing. */
function changedFields(user: UserRecord, changes: UserChanges): string[] {
  const fields: string[] = []
  if (changes.name !== undefined && changes.name !== user.name) fields.push('name')
  if (changes.email !== undefined && changes.email.email !== user.email) fields.push('email')
  if (changes.roles !== undefined && !sameSet(changes.roles, user.roles)) fields.push('roles')
  if (changes.emailVerified !== undefined && changes.emailVerified !== user.emailVerified)
    fields.push('emailVerified')
  if (
    changes.appMetadata !== undefined &&
    JSON.stringify(changes.appMetadata) !== JSON.stringify(user.appMetadata)
  ) {
    fields.push('appMetadata')
  }
  return fields
}

const sameSet = (a: string[], b: string[]): boolean =>
  a.length === b.length && a.every((item) => b.includes(item))

/** GET /admin/users/:id/sessions: the user's live sessions, most recently used first. */
export async function userSessions(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  id: string,
): Promise<SessionRecord[]> {
  const user = await findUser(deps.stores, id)
  return deps.stores.sessions.listLive(user.id, deps.clock.now())
}

/** DELETE /admin/users/:id/sessions: revokes every session (each a `session` revocation event). */
export async function revokeUserSessions(
  deps: Pick<FlowDeps, 'stores' | 'events' | 'clock'>,
  actor: Actor,
  id: string,
): Promise<number> {
  const { user, revoked } = await deps.stores.transaction(async (tx) => {
    const user = await findUser(tx, id)
    const revoked = await tx.sessions.revokeAllForUser(user.id, deps.clock.now(), 'revoked_by_admin')
    return { user, revoked }
  })
  deps.events.record({ type: 'session.revoked', userId: user.id, detail: { actor, sessions: revoked } })
  return revoked
}
