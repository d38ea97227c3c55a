import type { ColumnType, Generated, Selectable } from 'kysely'

/** Tables as Kysely sees them. Times are `timestamptz`, hashes `bytea`. */
export interface Database {
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  signing_keys: SigningKeysTable
  one_time_tokens: OneTimeTokensTable
  auth_events: AuthEventsTable
  email_key_conflicts: EmailKeyConflictsTable
  revocation_events: RevocationEventsTable
  revocation_feed: RevocationFeedTable
  service_clients: ServiceClientsTable
  totp_factors: TotpFactorsTable
  recovery_codes: RecoveryCodesTable
  mfa_tokens: MfaTokensTable
  passkeys: PasskeysTable
  webauthn_challenges: WebauthnChallengesTable
  identities: IdentitiesTable
  webhook_outbox: WebhookOutboxTable
}

type CreatedAt = ColumnType<Date, Date, never>

export interface UsersTable {
  id: string
  /** As the user typed it, trimmed and NFC-normalised. */
  email: string
  /**
   * The mailbox key, unique (email-address.ts: IDNA domain, NFKC case-folded local part), or
   * `conflict:<id>` for an account migration 0005 found sharing a key (see email_key_conflicts).
   */
  email_normalized: string
  name: string | null
  /** Null for an account without a password (migration 0010: a magic link removed it). */
  password_hash: string | null
  roles: string[]
  email_verified: Generated<boolean>
  disabled_at: Date | null
  /** Access tokens of the user with `iat` before this are stale (migration 0006). */
  tokens_not_before: Generated<Date | null>
  created_at: CreatedAt
  updated_at: Date
  /** A JSON object an administrator set (migration 0014): the access tokens' `app` claim. */
  app_metadata: ColumnType<Record<string, unknown>, string | undefined, string>
  /** The last sign-in that opened a session (migration 0014). */
  last_login_at: Generated<Date | null>
}

export interface SessionsTable {
  id: string
  user_id: string
  created_at: CreatedAt
  last_used_at: Date
  /** Moves forward on every refresh, never past `absolute_expires_at`. */
  idle_expires_at: Date
  absolute_expires_at: Date
  revoked_at: Date | null
  revoked_reason: string | null
  user_agent: string | null
  ip: string | null
  /** RFC 8176 methods of the sign-in (migration 0008): the access tokens' `amr`. */
  amr: Generated<string[]>
  /** `urn:tessera:pwd` or `urn:tessera:mfa`: the access tokens' `acr`. */
  acr: Generated<string>
  /** When the user signed in, or last stepped up: the access tokens' `auth_time`. */
  authenticated_at: Date
}

export interface RefreshTokensTable {
  id: string
  session_id: string
  /** SHA-256 of the token; the token itself is never stored. */
  token_hash: Uint8Array
  created_at: CreatedAt
  used_at: Date | null
  /** The successor, sealed under a key derived from this (the parent) token; see tokens/refresh-token.ts. */
  successor_sealed: string | null
}

export interface SigningKeysTable {
  kid: string
  alg: string
  public_jwk: ColumnType<Record<string, unknown>, string, string>
  /** The private JWK as a compact JWE under a key derived from TESSERA_SECRET. */
  private_jwe: string
  created_at: CreatedAt
  /** The key signs from this time on (a key may be published before it signs). */
  activates_at: Date
  /** Set when a newer key took over; the public key stays published while its tokens may live. */
  retired_at: Date | null
}

export interface OneTimeTokensTable {
  id: string
  user_id: string
  /** `password_reset` or `email_verification`: a token serves its purpose only. */
  purpose: string
  /** SHA-256 of the token; the token itself is only in the mail. */
  token_hash: Uint8Array
  email: string
  created_at: CreatedAt
  expires_at: Date
  /** Set when used, or when a newer token of the same purpose or a password change voided it. */
  used_at: Date | null
  /** `oauth_code` only: the app's S256 PKCE challenge; only its verifier exchanges the code. */
  code_challenge: ColumnType<string | null, string | null | undefined, never>
  /** `oauth_link` only: the identity the code links, as JSON. */
  payload: ColumnType<unknown, string | null | undefined, never>
}

export interface IdentitiesTable {
  id: string
  user_id: string
  /** The provider's id in TESSERA_OAUTH_PROVIDERS. */
  provider: string
  issuer: string
  /** The provider's `sub`: with provider and issuer, unique. */
  subject: string
  /** The provider's email at the last sign-in, and whether the provider said it verified it. */
  email: string | null
  email_verified: boolean
  linked_at: CreatedAt
}

export interface AuthEventsTable {
  id: string
  /** One of AUTH_EVENT_TYPES (events.ts). */
  type: string
  /** No foreign key: the row outlives the account (see migration 0004). */
  user_id: string | null
  session_id: string | null
  ip: string | null
  user_agent: string | null
  detail: ColumnType<Record<string, unknown>, string, never>
  created_at: CreatedAt
}

// rows, for store/ only: the stores hand out records (records.ts)
export type UserRow = Selectable<UsersTable>
export type SessionRow = Selectable<SessionsTable>
export type SigningKeyRow = Selectable<SigningKeysTable>
export type AuthEventRow = Selectable<AuthEventsTable>

/** Accounts migration 0005 found sharing a mailbox key with another; never merged, for the operator. */
export interface EmailKeyConflictsTable {
  user_id: string
  wanted_key: string
  held_by: string
  found_at: Date
}

/** The revocation feed's events (migration 0006); `id` orders them on every instance. */
export interface RevocationEventsTable {
  id: ColumnType<string, never, never>
  /** `session` (sid set) or `user` (not_before set). */
  kind: 'session' | 'user'
  sid: string | null
  /** A user id, or a service client id. */
  sub: string
  not_before: Date | null
  expires_at: Date
  created_at: CreatedAt
}

/** One row: the highest event id pruned so far. */
export interface RevocationFeedTable {
  id: number
  pruned_through: ColumnType<string, string | number, string | number>
}

export type RevocationEventRow = Selectable<RevocationEventsTable>

/** Service credentials (migration 0007): `svc_…` ids, the secret only as its SHA-256. */
export interface ServiceClientsTable {
  id: string
  name: string
  /** SHA-256 of the secret (256 random bits, so a fast hash; see the migration). */
  secret_hash: Uint8Array
  scopes: string[]
  created_at: CreatedAt
  revoked_at: Date | null
  last_used_at: Date | null
}

export type ServiceClientRow = Selectable<ServiceClientsTable>

/** A user's TOTP factor (migration 0009); pending until `confirmed_at`. */
export interface TotpFactorsTable {
  user_id: string
  /** The base32 secret as a compact JWE under a key derived from TESSERA_SECRET. */
  secret_sealed: string
  created_at: CreatedAt
  confirmed_at: Date | null
  /** The RFC 6238 time step of the last accepted code (bigint: the driver may give a string). */
  last_used_step: ColumnType<string | number | null, number | null, number | null>
}

export type TotpFactorRow = Selectable<TotpFactorsTable>

/** One recovery code (migration 0009), as its SHA-256. */
export interface RecoveryCodesTable {
  id: string
  user_id: string
  code_hash: Uint8Array
  created_at: CreatedAt
  used_at: Date | null
}

/** The token between the password and the second factor (migration 0009), as its SHA-256. */
/** `sign_in`: for POST /auth/mfa/verify; `enrol`: for the enrolment routes only (TESSERA_MFA_REQUIRED_ROLES). */
export type MfaTokenPurpose = 'sign_in' | 'enrol'

export interface MfaTokensTable {
  id: string
  user_id: string
  token_hash: Uint8Array
  first_factor: string
  purpose: ColumnType<MfaTokenPurpose, MfaTokenPurpose | undefined, never>
  failures: Generated<number>
  created_at: CreatedAt
  expires_at: Date
  spent_at: Date | null
}

export type MfaTokenRow = Selectable<MfaTokensTable>

/** A WebAuthn credential (migration 0010): its public key, never a secret. */
export interface PasskeysTable {
  id: string
  user_id: string
  /** The credential id as the browser sends it, base64url; unique across users. */
  credential_id: string
  /** The COSE public key. */
  public_key: Uint8Array
  /** The signature counter (uint32 in a bigint: the driver may give a string). */
  counter: ColumnType<string | number, number, number>
  transports: string[]
  /** `singleDevice` or `multiDevice` (backup eligible: a synced passkey). */
  device_type: string
  backed_up: boolean
  name: string
  created_at: CreatedAt
  last_used_at: Date | null
}

export type PasskeyRow = Selectable<PasskeysTable>

/** The challenge of one WebAuthn ceremony (migration 0010): single use, short-lived. */
export interface WebauthnChallengesTable {
  id: string
  /** base64url, as the options carried it and the client data echoes it. */
  challenge: string
  /** `register`, `login`, `mfa` or `step-up`. */
  purpose: string
  user_id: string | null
  mfa_token_id: string | null
  created_at: CreatedAt
  expires_at: Date
  used_at: Date | null
}

export type WebauthnChallengeRow = Selectable<WebauthnChallengesTable>

/** The webhook outbox (migration 0015): one row per event, written with its change, sent after. */
export interface WebhookOutboxTable {
  /** `msg_…`: the `webhook-id` header, stable across attempts. */
  id: string
  type: string
  /** The exact JSON body sent. */
  payload: string
  created_at: CreatedAt
  attempts: Generated<number>
  next_attempt_at: Date
  attempts_since: Date
  last_error: string | null
  delivered_at: Date | null
  failed_at: Date | null
}

export type WebhookOutboxRow = Selectable<WebhookOutboxTable>
