/** What the audit log and the metrics count. */
export const AUTH_EVENT_TYPES = [
  'login_succeeded',
  'login_failed',
  'register',
  'refresh',
  'refresh_reuse_detected',
  'logout',
  'logout_all',
  'session_revoked',
  'password_changed',
  'password_reset',
  'password_reset_requested',
  'magic_link_requested',
  'email_verified',
  'account_locked',
  'key_rotated',
  'user_disabled',
  'user_enabled',
  'user_deleted',
  'mfa_challenged',
  'mfa_enrolment_required',
  'mfa_enrolled',
  'mfa_disabled',
  'mfa_failed',
  'mfa_reset',
  'recovery_codes_regenerated',
  'step_up',
  'identity_linked',
  'identity_unlinked',
  'provider_sign_in_failed',
  // administration and self-service: the webhook event names, each with `detail.actor` (the admin
  // user's id, the service client's id, or the user's own id for self-service)
  'user.created',
  'user.updated',
  'user.deleted',
  'user.disabled',
  'user.enabled',
  'session.revoked',
  'mfa.disabled',
  'email_change_requested',
] as const
export type AuthEventType = (typeof AUTH_EVENT_TYPES)[number]

export interface AuthEvent {
  type: AuthEventType
  userId?: string | null
  sessionId?: string | null
  ip?: string | null
  userAgent?: string | null
  /** Small, non-secret facts: a reason, a kid. Never a password, token or hash. */
  detail?: Record<string, string | number | boolean>
}

/** Flows report what happened here; recording never throws and never delays the answer. */
export interface AuthEvents {
  record(event: AuthEvent): void
}

/** Records nothing: for tools and tests that do not look at events. */
export const noEvents: AuthEvents = { record() {} }
