import { randomUUID } from 'node:crypto'
import { TesseraError } from '../errors.js'
import type { User } from '../store/database.js'
import type { FlowDeps } from './deps.js'
import { isEmail, normalizeEmail } from './email.js'

export const ROLE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/

function checkRoles(roles: string[]): void {
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
): Promise<User> {
  const { email, normalized } = normalizeEmail(input.email)
  if (!isEmail(email)) {
    throw new TesseraError('VALIDATION_FAILED', {
      errors: [{ field: 'email', message: 'must be an email address' }],
    })
  }
  // operators pick weak passwords too: the same policy as self-service registration
  deps.policy.check(input.password, { email, name: input.name ?? null })
  checkRoles(input.roles)
  const user = await deps.stores.users.create({
    id: randomUUID(),
    email,
    emailNormalized: normalized,
    name: input.name?.trim() || null,
    passwordHash: await deps.hasher.hash(input.password),
    roles: [...new Set(input.roles)],
    createdAt: deps.clock.now(),
  })
  if (user === 'email_taken') throw new TesseraError('EMAIL_TAKEN')
  return user
}

/** Adds and removes roles. New access tokens carry them; tokens already issued keep theirs until they expire. */
export async function changeRoles(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  email: string,
  change: { add: string[]; remove: string[] },
): Promise<User> {
  checkRoles([...change.add, ...change.remove])
  return deps.stores.transaction(async (tx) => {
    const user = await tx.users.findByEmail(normalizeEmail(email).normalized)
    if (!user) throw new TesseraError('NOT_FOUND', { detail: `No user with email ${email}.` })
    const roles = [...new Set([...user.roles, ...change.add])].filter((role) => !change.remove.includes(role))
    await tx.users.setRoles(user.id, roles, deps.clock.now())
    return { ...user, roles }
  })
}
