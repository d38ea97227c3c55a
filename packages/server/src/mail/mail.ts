/** One message, ready to send. */
export interface Mail {
  to: string
  subject: string
  text: string
  html: string
  /** What the mail is for, for logs and metrics: `verify-email`, `reset-password`, … */
  kind: MailKind
}

export const MAIL_KINDS = [
  'verify-email',
  'reset-password',
  'password-changed',
  'password-reset-done',
  'account-exists',
  'mfa-enabled',
  'mfa-disabled',
  'magic-link',
  'passkey-added',
  'passkey-removed',
  'confirm-email-change',
  'email-change-requested',
  'invite',
] as const
export type MailKind = (typeof MAIL_KINDS)[number]

/**
 * Sends mail off the request path. `send` never throws and never waits for the network: the mail
 * is queued, retried with backoff, and every failure is logged, so a mail problem never becomes a
 * 5xx for the user.
 */
export interface Mailer {
  send(mail: Mail): void
  /** Resolves when every queued mail has been sent or has given up (tests, shutdown). */
  idle(): Promise<void>
  close(): Promise<void>
}
