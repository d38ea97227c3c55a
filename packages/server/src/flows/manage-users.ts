import { randomUUID } from 'node:crypto'
import { isEmail, normalizeEmail } from '../email-address.js'
import { TesseraError } from '../errors.js'
import { isUuid } from '../ids.js'
import { ROLE_PATTERN } from '../roles.js'
import type { UserRecord } from '../store/records.js'
import type { Stores } from '../store/stores.js'
import { webhookUser } from '../store/webhooks.js'
import { unstorableText } from '../text.js'
import type { FlowDeps } from './deps.js'

export function checkRoles(roles: string[]): void {
  const bad = roles.filter((role) => !ROLE_PATTERN.test(role))
  if (bad.length > 0) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: bad.map((role) => ({
        field: 'role',
        message: `"${role}" is not a role name (letters, digits, _ . : -)`,
      })),
    })
  }
}

export interface CreateUserInput {
  email: string
  password: string
  name?: string | undefined
  roles: string[]
}

/** Creates an account without signing it in (the operator's `tessera users create`). */
export async function createUser(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'policy' | 'clock'>,
  input: CreateUserInput,
): Promise<UserRecord> {
  const { email, normalized } = normalizeEmail(input.email)
  if (!isEmail(email)) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'email', message: 'must be an email address' }],
    })
  }
  const badName = input.name === undefined ? undefined : unstorableText(input.name)
  if (badName) throw new TesseraError('VALIDATION_FAILED', { errors: [{ field: 'name', message: badName }] })
  // operators pick weak passwords too: the same policy as self-service registration
  await deps.policy.check(input.password, { email, name: input.name ?? null })
  checkRoles(input.roles)
  const passwordHash = await deps.hasher.hash(input.password)
  return deps.stores.transaction(async (tx) => {
    const user = await tx.users.create({
      id: randomUUID(),
      email,
      emailNormalized: normalized,
      name: input.name?.trim().normalize('NFC') || null,
      passwordHash,
      roles: [...new Set(input.roles)],
      createdAt: deps.clock.now(),
    })
    if (user === 'email_taken') throw new TesseraError('EMAIL_TAKEN')
    await tx.webhooks.enqueue({ type: 'user.created', data: { user: webhookUser(user), via: 'cli' } })
    return user
  })
}

/**
 * Adds and removes roles. The user's access tokens issued before are stale at once (TOKEN_REVOKED
 * here, and at every service following the revocation feed); a refresh gets a token with the new roles.
 */
export async function changeRoles(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  email: string,
  change: { add: string[]; remove: string[] },
): Promise<UserRecord> {
  checkRoles([...change.add, ...change.remove])
  return deps.stores.transaction(async (tx) => {
    const user = await tx.users.findByEmail(normalizeEmail(email).normalized)
    if (!user) throw new TesseraError('NOT_FOUND', { detail: `No user with email ${email}.` })
    const roles = [...new Set([...user.roles, ...change.add])].filter((role) => !change.remove.includes(role))
    // no change, no stale tokens: every client would refresh for nothing
    const same = roles.length === user.roles.length && roles.every((role) => user.roles.includes(role))
    if (!same) {
      await tx.users.setRoles(user.id, roles, deps.clock.now())
      await tx.webhooks.enqueue({
        type: 'user.updated',
        data: { user: webhookUser({ ...user, roles }), changed: ['roles'] },
      })
    }
    return { ...user, roles }
  })
}

/**
 * A user by email, or by id: an account parked by migration 0005 (email_key_conflicts) has no
 * address that leads to it, so the operator names it by id.
 */
export async function findUser(stores: Stores, emailOrId: string): Promise<UserRecord> {
  const user = isUuid(emailOrId)
    ? await stores.users.findById(emailOrId)
    : await stores.users.findByEmail(normalizeEmail(emailOrId).normalized)
  if (!user) {
    const what = isUuid(emailOrId) ? 'id' : 'email'
    throw new TesseraError('NOT_FOUND', { detail: `No user with ${what} ${emailOrId}.` })
  }
  return user
}

export interface LifecycleChange {
  user: UserRecord
  /** Sessions this change ended (revoked, or deleted with the user). */
  sessions: number
  /** False when the account already was as asked (disabling a disabled user): nothing but sessions changed. */
  changed: boolean
}

type LifecycleDeps = Pick<FlowDeps, 'stores' | 'clock' | 'events'>

/**
 * Who asked, for the audit log: an administrator's user id or a service client's id (the admin
 * API), or the user's own id (self-service). Without one (the CLI) the event has the operator
 * type names (`user_disabled`); with one, the webhook names (`user.disabled`) and `detail.actor`.
 */
export type Actor = string

/**
 * Disables an account and revokes every session at once, in one transaction: refresh tokens die
 * with their sessions, and live access tokens fail the session check of the Bearer routes. Login
 * with the right password then answers ACCOUNT_DISABLED.
 */
export async function disableUser(
  deps: LifecycleDeps,
  email: string,
  actor?: Actor,
): Promise<LifecycleChange> {
  const change = await deps.stores.transaction(async (tx) => {
    const user = await findUser(tx, email)
    const now = deps.clock.now()
    // disabling twice keeps the first time: it says since when the account has been off
    const disabledAt = user.disabledAt ?? now
    if (user.disabledAt === null) {
      await tx.users.setDisabled(user.id, disabledAt, now)
      await tx.webhooks.enqueue({
        type: 'user.disabled',
        data: { user: webhookUser({ ...user, disabledAt }) },
      })
    }
    // revoked even when already disabled: a session opened by a race with the first disable goes too
    const sessions = await tx.sessions.revokeAllForUser(user.id, now, 'user_disabled')
    return { user: { ...user, disabledAt: disabledAt }, sessions, changed: user.disabledAt === null }
  })
  if (change.changed) {
    deps.events.record(
      actor === undefined
        ? { type: 'user_disabled', userId: change.user.id }
        : {
            type: 'user.disabled',
            userId: change.user.id,
            detail: { actor, sessionsRevoked: change.sessions },
          },
    )
  }
  return change
}

/** Enables a disabled account. Sessions revoked by the disable stay revoked: the user logs in again. */
export async function enableUser(
  deps: LifecycleDeps,
  email: string,
  actor?: Actor,
): Promise<LifecycleChange> {
  const change = await deps.stores.transaction(async (tx) => {
    const user = await findUser(tx, email)
    const now = deps.clock.now()
    if (user.disabledAt !== null) {
      await tx.users.setDisabled(user.id, null, now)
      await tx.webhooks.enqueue({
        type: 'user.enabled',
        data: { user: webhookUser({ ...user, disabledAt: null }) },
      })
    }
    // a disabled account has no usable session; one a login opened while racing the disable would
    // come back to life here, so it is revoked
    const sessions =
      user.disabledAt === null ? 0 : await tx.sessions.revokeAllForUser(user.id, now, 'user_disabled')
    return { user: { ...user, disabledAt: null }, sessions, changed: user.disabledAt !== null }
  })
  if (change.changed) {
    deps.events.record(
      actor === undefined
        ? { type: 'user_enabled', userId: change.user.id }
        : { type: 'user.enabled', userId: change.user.id, detail: { actor } },
    )
  }
  return change
}

/**
 * Deletes an account for good. Its sessions, refresh tokens and one-time tokens go with it (the
 * foreign keys cascade), so every session ends at once; the email is free to register again.
 */
export async function deleteUser(
  deps: LifecycleDeps,
  email: string,
  actor?: Actor,
): Promise<LifecycleChange> {
  const change = await deps.stores.transaction(async (tx) => {
    const user = await findUser(tx, email)
    const sessions = (await tx.sessions.listLive(user.id, deps.clock.now())).length
    await tx.users.delete(user.id, deps.clock.now())
    // its sessions go with it (the foreign keys cascade) without a session.revoked each
    await tx.webhooks.enqueue({ type: 'user.deleted', data: { user: webhookUser(user) } })
    return { user, sessions, changed: true }
  })
  deps.events.record(
    actor === undefined
      ? { type: 'user_deleted', userId: change.user.id }
      : { type: 'user.deleted', userId: change.user.id, detail: { actor, sessions: change.sessions } },
  )
  return change
}
