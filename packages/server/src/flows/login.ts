import { TesseraError } from '../errors.js'
import type { ClientContext, FlowDeps } from './deps.js'
import { normalizeEmail } from './email.js'
import { accessTokenFor, type IssuedTokens, openSession } from './issued-tokens.js'

export interface LoginInput {
  email: string
  password: string
}

/** Checks the password and opens a new session; a login never continues an existing one. */
export async function login(
  deps: Pick<FlowDeps, 'stores' | 'hasher' | 'keyRing' | 'clock' | 'config'>,
  input: LoginInput,
  context: ClientContext,
): Promise<IssuedTokens> {
  const { normalized } = normalizeEmail(input.email)
  const user = await deps.stores.users.findByEmail(normalized)
  if (!user) {
    // verify against a dummy hash, so an unknown email takes as long as a wrong password
    await deps.hasher.verifyDummy(input.password)
    throw new TesseraError('INVALID_CREDENTIALS')
  }
  const check = await deps.hasher.verify(user.password_hash, input.password)
  if (!check.ok) throw new TesseraError('INVALID_CREDENTIALS')
  // only someone with the password learns the account is disabled
  if (user.disabled_at !== null) throw new TesseraError('ACCOUNT_DISABLED')
  if (deps.config.requireEmailVerification && !user.email_verified)
    throw new TesseraError('EMAIL_NOT_VERIFIED')

  // bcrypt or weaker argon2 parameters: upgrade while we hold the plain password, hashing before
  // the transaction so no lock waits on argon2
  const upgradedHash = check.needsRehash ? await deps.hasher.hash(input.password) : undefined
  const opened = await deps.stores.transaction(async (tx) => {
    if (upgradedHash) await tx.users.setPasswordHash(user.id, upgradedHash, deps.clock.now())
    return openSession(tx, deps, user, context)
  })
  return { user, ...opened, ...(await accessTokenFor(deps, user, opened.sessionId)) }
}
