import { randomUUID } from 'node:crypto'
import type { OAuthProviderConfig } from '../../config.js'
import { isEmail, normalizeEmail } from '../../email-address.js'
import { TesseraError } from '../../errors.js'
import type { UserRecord } from '../../store/records.js'
import type { Stores } from '../../store/stores.js'
import { webhookUser } from '../../store/webhooks.js'
import { DEFAULT_ROLES } from '../register.js'

/** What Tessera takes from a validated ID token. */
export interface ProviderClaims {
  issuer: string
  subject: string
  email: string | null
  /** True only where the provider said so with its verified claim (`email_verified`, or `xms_edov`). */
  emailVerified: boolean
  name: string | null
}

/**
 * A provider's email as Tessera takes it: an address by the rule every other email meets
 * (`isEmail`, at most 254 characters), else none, so that a new identity is PROVIDER_EMAIL_MISSING
 * rather than an account under a name no mail reaches.
 */
export function providerEmail(raw: unknown): string | null {
  if (typeof raw !== 'string') return null
  const email = raw.trim()
  return email !== '' && isEmail(email) ? email : null
}

/** A provider's display name: trimmed, NFC, at most 200 characters; else none. */
export const providerName = (raw: unknown): string | null =>
  typeof raw === 'string' ? raw.trim().normalize('NFC').slice(0, 200) || null : null

/** The claims of a validated ID token, read as `provider` states them. */
export function providerClaims(
  provider: OAuthProviderConfig,
  claims: Readonly<Record<string, unknown>>,
): ProviderClaims {
  const email = providerEmail(claims.email)
  const verified = claims[provider.emailVerifiedClaim]
  return {
    issuer: String(claims.iss),
    subject: String(claims.sub),
    email,
    // Apple documents `email_verified` as a boolean or the string "true"
    emailVerified:
      email !== null && (verified === true || (provider.emailVerifiedString && verified === 'true')),
    name: providerName(claims.name),
  }
}

export type ProviderAccount =
  | { kind: 'known'; user: UserRecord }
  | { kind: 'linked'; user: UserRecord; identityId: string }
  | { kind: 'created'; user: UserRecord; identityId: string }

/**
 * The account a provider identity signs in to, inside the caller's transaction: the account that
 * has the identity; else the account with its email, linked only when the provider verified the
 * email and the account verified it too (so nobody can register a victim's address first and wait
 * for them to come with their provider); else a new account without a password.
 */
export async function accountForIdentity(
  tx: Stores,
  provider: OAuthProviderConfig,
  claims: ProviderClaims,
  now: Date,
): Promise<ProviderAccount> {
  const key = { provider: provider.id, issuer: claims.issuer, subject: claims.subject }
  const identity = await tx.identities.find(key)
  if (identity) {
    const user = await tx.users.findById(identity.userId)
    if (!user) throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: 'identity without its user' })
    await tx.identities.updateEmail(identity.id, claims.email, claims.emailVerified)
    return { kind: 'known', user }
  }
  if (claims.email === null) throw new TesseraError('PROVIDER_EMAIL_MISSING')
  const { email, normalized } = normalizeEmail(claims.email)
  const link = async (userId: string): Promise<string> => {
    const linked = await tx.identities.link({
      id: randomUUID(),
      userId,
      ...key,
      email: claims.email,
      emailVerified: claims.emailVerified,
      linkedAt: now,
    })
    // a parallel sign-in with the same identity linked it first: this one starts again
    if (linked === 'taken') throw new TesseraError('PROVIDER_SIGN_IN_FAILED')
    return linked.id
  }

  const existing = await tx.users.findByEmail(normalized)
  if (existing) {
    if (!(claims.emailVerified && existing.emailVerified)) throw new TesseraError('ACCOUNT_EXISTS')
    return { kind: 'linked', user: existing, identityId: await link(existing.id) }
  }
  const created = await tx.users.create({
    id: randomUUID(),
    email,
    emailNormalized: normalized,
    name: claims.name,
    // no password: one can be set through forgot-password
    passwordHash: null,
    roles: DEFAULT_ROLES,
    createdAt: now,
  })
  // registered meanwhile by someone else: the same rule as an existing account, whose email is unverified
  if (created === 'email_taken') throw new TesseraError('ACCOUNT_EXISTS')
  let user = created
  if (claims.emailVerified && (await tx.users.markEmailVerified(user.id, email, now))) {
    user = { ...user, emailVerified: true }
  }
  // one event for the new account, verified or not as its user object says
  await tx.webhooks.enqueue({ type: 'user.created', data: { user: webhookUser(user), via: provider.id } })
  return { kind: 'created', user, identityId: await link(user.id) }
}
