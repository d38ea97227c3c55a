import { randomUUID } from 'node:crypto'
import { TesseraError } from '../errors.js'
import type { ClientContext, FlowDeps } from './deps.js'
import { normalizeEmail } from './email.js'
import { accessTokenFor, type IssuedTokens, openSession } from './issued-tokens.js'

export interface RegisterInput {
  email: string
  password: string
  name?: string | undefined
}

export const DEFAULT_ROLES = ['user']

/** Creates an account and signs it in: user, session and first refresh token in one transaction. */
export async function register(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'keyRing' | 'clock' | 'config'>,
  input: RegisterInput,
  context: ClientContext,
): Promise<IssuedTokens> {
  const { email, normalized } = normalizeEmail(input.email)
  // hash before touching the database: the unique index, not a prior lookup, decides a race
  const passwordHash = await deps.hasher.hash(input.password)
  const name = input.name?.trim() || null
  const opened = await deps.stores.transaction(async (tx) => {
    const user = await tx.users.create({
      id: randomUUID(),
      email,
      emailNormalized: normalized,
      name,
      passwordHash,
      roles: DEFAULT_ROLES,
      createdAt: deps.clock.now(),
    })
    if (user === 'email_taken') throw new TesseraError('EMAIL_TAKEN')
    return { user, ...(await openSession(tx, deps, user, context)) }
  })
  return { ...opened, ...(await accessTokenFor(deps, opened.user, opened.sessionId)) }
}
