import { type RawBuilder, sql } from 'kysely'
import { TesseraError } from '../errors.js'
import type {
  AuthEventRow,
  PasskeyRow,
  RevocationEventRow,
  ServiceClientRow,
  SessionRow,
  SessionsTable,
  SigningKeyRow,
  TotpFactorRow,
  UserRow,
  UsersTable,
  WebauthnChallengeRow,
} from './database.js'

/**
 * What the stores hand out: domain records in camelCase. Rows (database.ts) stay inside store/;
 * each table's rows become records here, in one mapper per table.
 */

export interface UserRecord {
  id: string
  /** As the user typed it, trimmed and NFC-normalised. */
  email: string
  /** The mailbox key (email-address.ts), or `conflict:<id>` for an account parked by migration 0005. */
  emailNormalized: string
  name: string | null
  /** Null when the account has no password (a magic link took over an unverified account). */
  passwordHash: string | null
  roles: string[]
  emailVerified: boolean
  disabledAt: Date | null
  /** Access tokens issued before this are stale: roles or email changed, account disabled. */
  tokensNotBefore: Date | null
  createdAt: Date
  updatedAt: Date
  /** A JSON object only administrators set; in access tokens as `app` when not empty. */
  appMetadata: Record<string, unknown>
  /** The last sign-in that opened a session, null if none since migration 0014. */
  lastLoginAt: Date | null
}

export interface SessionRecord {
  id: string
  userId: string
  createdAt: Date
  lastUsedAt: Date
  /** Moves forward on every refresh, never past `absoluteExpiresAt`. */
  idleExpiresAt: Date
  absoluteExpiresAt: Date
  revokedAt: Date | null
  revokedReason: string | null
  userAgent: string | null
  ip: string | null
  /** RFC 8176 authentication methods of the sign-in (`pwd`, `otp`, `mfa`). */
  amr: string[]
  /** `urn:tessera:pwd` or `urn:tessera:mfa`. */
  acr: string
  /** The sign-in, or the last step-up: the access tokens' `auth_time`. */
  authenticatedAt: Date
}

/** How a session's user signed in: what its access tokens claim as `amr`, `acr` and `auth_time`. */
export type SessionAuth = Pick<SessionRecord, 'amr' | 'acr' | 'authenticatedAt'>

export interface SigningKeyRecord {
  kid: string
  alg: string
  publicJwk: Record<string, unknown>
  /** The private JWK as a compact JWE under a key derived from TESSERA_SECRET. */
  privateJwe: string
  createdAt: Date
  /** The key signs from this time on (a key may be published before it signs). */
  activatesAt: Date
  /** Set when a newer key took over; the public key stays published while its tokens may live. */
  retiredAt: Date | null
}

export interface AuthEventRecord {
  id: string
  /** One of AUTH_EVENT_TYPES (events.ts). */
  type: string
  userId: string | null
  sessionId: string | null
  ip: string | null
  userAgent: string | null
  detail: Record<string, unknown>
  createdAt: Date
}

/** One event of the revocation feed; `id` as a bigint, the feed's order on every instance. */
export type RevocationEventRecord =
  | { kind: 'session'; id: bigint; sid: string; sub: string; expiresAt: Date; createdAt: Date }
  | { kind: 'user'; id: bigint; sub: string; notBefore: Date; expiresAt: Date; createdAt: Date }

export const toRevocationEvent = (row: RevocationEventRow): RevocationEventRecord => {
  const common = { id: BigInt(row.id), sub: row.sub, expiresAt: row.expires_at, createdAt: row.created_at }
  if (row.kind === 'session' && row.sid !== null) return { kind: 'session', sid: row.sid, ...common }
  if (row.kind === 'user' && row.not_before !== null)
    return { kind: 'user', notBefore: row.not_before, ...common }
  // the table's check constraint rules this out
  throw new TesseraError('INTERNAL', {
    reason: `revocation event ${row.id}: kind ${row.kind} without its field`,
  })
}

export const toUser = (row: UserRow): UserRecord => ({
  id: row.id,
  email: row.email,
  emailNormalized: row.email_normalized,
  name: row.name,
  passwordHash: row.password_hash,
  roles: row.roles,
  emailVerified: row.email_verified,
  disabledAt: row.disabled_at,
  tokensNotBefore: row.tokens_not_before,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  appMetadata: row.app_metadata,
  lastLoginAt: row.last_login_at,
})

export const toSession = (row: SessionRow): SessionRecord => ({
  id: row.id,
  userId: row.user_id,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  idleExpiresAt: row.idle_expires_at,
  absoluteExpiresAt: row.absolute_expires_at,
  revokedAt: row.revoked_at,
  revokedReason: row.revoked_reason,
  userAgent: row.user_agent,
  ip: row.ip,
  amr: row.amr,
  acr: row.acr,
  authenticatedAt: row.authenticated_at,
})

export const toSigningKey = (row: SigningKeyRow): SigningKeyRecord => ({
  kid: row.kid,
  alg: row.alg,
  publicJwk: row.public_jwk,
  privateJwe: row.private_jwe,
  createdAt: row.created_at,
  activatesAt: row.activates_at,
  retiredAt: row.retired_at,
})

export const toAuthEvent = (row: AuthEventRow): AuthEventRecord => ({
  id: row.id,
  type: row.type,
  userId: row.user_id,
  sessionId: row.session_id,
  ip: row.ip,
  userAgent: row.user_agent,
  detail: row.detail,
  createdAt: row.created_at,
})

// the columns, named: a prepared statement's `users.*` would stop working (its result type
// changed) once a migration adds a column beside a running server. Records, so that a column
// added to a table and left out here fails to compile.
export const USER_COLUMNS: Record<keyof UsersTable, true> = {
  id: true,
  email: true,
  email_normalized: true,
  name: true,
  password_hash: true,
  roles: true,
  email_verified: true,
  disabled_at: true,
  tokens_not_before: true,
  created_at: true,
  updated_at: true,
  app_metadata: true,
  last_login_at: true,
}

export const SESSION_COLUMNS: Record<keyof SessionsTable, true> = {
  id: true,
  user_id: true,
  created_at: true,
  last_used_at: true,
  idle_expires_at: true,
  absolute_expires_at: true,
  revoked_at: true,
  revoked_reason: true,
  user_agent: true,
  ip: true,
  amr: true,
  acr: true,
  authenticated_at: true,
}

/** A row's columns under a prefix, as a joined select returns them (`u.email as user_email`). */
export type Prefixed<P extends string, T> = { [K in keyof T & string as `${P}${K}`]: T[K] }

/** The select list `alias.column as <prefix>column, …` of a table's columns, for raw SQL. */
function columnList(columns: Record<string, true>, alias: string, prefix = ''): RawBuilder<unknown> {
  return sql.raw(
    Object.keys(columns)
      .map((column) => `${alias}.${column} as ${prefix}${column}`)
      .join(', '),
  )
}

/** The row of one table out of a joined select that named its columns with `columnList`. */
function unprefixed<T, P extends string>(
  columns: Record<keyof T & string, true>,
  row: Prefixed<P, T>,
  prefix: P,
): T {
  const source: Record<string, unknown> = row
  // every column of `columns` is in `row` under its prefix, typed as in T (Prefixed)
  return Object.fromEntries(Object.keys(columns).map((column) => [column, source[prefix + column]])) as T
}

/** A session with its user, as a joined select returns them: the user's columns under `u_`. */
export type SessionWithUserRow = SessionRow & Prefixed<'u_', UserRow>

/** The select list of `SessionWithUserRow`, from the tables (or aliases) `session` and `user`. */
export const sessionWithUserColumns = (session: string, user: string): RawBuilder<unknown> =>
  sql`${columnList(SESSION_COLUMNS, session)}, ${columnList(USER_COLUMNS, user, 'u_')}`

export const toSessionWithUser = (row: SessionWithUserRow): { session: SessionRecord; user: UserRecord } => ({
  session: toSession(row),
  user: toUser(unprefixed(USER_COLUMNS, row, 'u_')),
})

/** The user's columns, for a raw select of the users table (or alias) `user`. */
export const userColumns = (user: string): RawBuilder<unknown> => columnList(USER_COLUMNS, user)

/** A service client; the secret's hash stays in store/ (verification compares it there). */
export interface ServiceClientRecord {
  /** `svc_` and 128 random bits in base64url. */
  id: string
  name: string
  scopes: string[]
  createdAt: Date
  revokedAt: Date | null
  lastUsedAt: Date | null
}

export const toServiceClient = (row: ServiceClientRow): ServiceClientRecord => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
})

/** A user's TOTP factor; the secret stays sealed until a flow opens it (keys/wrapping.ts). */
export interface TotpFactorRecord {
  userId: string
  /** The base32 secret as a compact JWE under a key derived from TESSERA_SECRET. */
  secretSealed: string
  createdAt: Date
  /** Null while pending (set up, no code confirmed yet). */
  confirmedAt: Date | null
  /** The RFC 6238 time step of the last accepted code. */
  lastUsedStep: number | null
}

export const toTotpFactor = (row: TotpFactorRow): TotpFactorRecord => ({
  userId: row.user_id,
  secretSealed: row.secret_sealed,
  createdAt: row.created_at,
  confirmedAt: row.confirmed_at,
  lastUsedStep: row.last_used_step === null ? null : Number(row.last_used_step),
})

/** A passkey of a user: a WebAuthn credential's public key and what its authenticator reports. */
export interface PasskeyRecord {
  id: string
  userId: string
  /** base64url, as the browser names the credential. */
  credentialId: string
  /** The COSE public key. */
  publicKey: Uint8Array<ArrayBuffer>
  /** The signature counter of its last use (0 for authenticators that keep none). */
  counter: number
  /** Where the authenticator is reachable (`internal`, `hybrid`, `usb`, …), as it said at registration. */
  transports: string[]
  /** `multiDevice`: backup eligible (a synced passkey, amr `swk`); `singleDevice`: bound to one device (`hwk`). */
  deviceType: 'singleDevice' | 'multiDevice'
  /** Whether the passkey was backed up (synced) at its last use. */
  backedUp: boolean
  name: string
  createdAt: Date
  lastUsedAt: Date | null
}

export const toPasskey = (row: PasskeyRow): PasskeyRecord => ({
  id: row.id,
  userId: row.user_id,
  credentialId: row.credential_id,
  publicKey: new Uint8Array(row.public_key),
  counter: Number(row.counter),
  transports: row.transports,
  deviceType: row.device_type === 'multiDevice' ? 'multiDevice' : 'singleDevice',
  backedUp: row.backed_up,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
})

/** What a WebAuthn challenge serves; a challenge is taken only for its own purpose. */
export const WEBAUTHN_PURPOSES = ['register', 'login', 'mfa', 'step-up'] as const
export type WebauthnPurpose = (typeof WEBAUTHN_PURPOSES)[number]

/** A WebAuthn challenge, as taken (spent) for a ceremony. */
export interface WebauthnChallengeRecord {
  id: string
  /** base64url. */
  challenge: string
  purpose: WebauthnPurpose
  /** The user a registration or step-up is for; null for a passkey login. */
  userId: string | null
  /** The pending sign-in a second-factor challenge belongs to. */
  mfaTokenId: string | null
  expiresAt: Date
}

const isPurpose = (value: string): value is WebauthnPurpose =>
  (WEBAUTHN_PURPOSES as readonly string[]).includes(value)

export const toWebauthnChallenge = (row: WebauthnChallengeRow): WebauthnChallengeRecord => {
  // the table's check constraint rules out any other purpose
  if (!isPurpose(row.purpose)) {
    throw new TesseraError('INTERNAL', { reason: `webauthn challenge ${row.id}: purpose ${row.purpose}` })
  }
  return {
    id: row.id,
    challenge: row.challenge,
    purpose: row.purpose,
    userId: row.user_id,
    mfaTokenId: row.mfa_token_id,
    expiresAt: row.expires_at,
  }
}
