import { errorFromResponse, TesseraClientError } from './errors.js'
import { badResponse, type FetchLike, jsonPost, readJson, send } from './http.js'
import { isRecord } from './types.js'

export interface PasswordReset {
  /** The one-time token from the reset link the server mailed. */
  token: string
  /** The new password; the server's password policy applies. */
  password: string
}

export interface EmailVerification {
  /** The one-time token from the verification link the server mailed. */
  token: string
}

export interface PasswordChange {
  currentPassword: string
  /** The server's password policy applies. */
  newPassword: string
}

/**
 * Password, email-address and magic-link calls. None of them stores or clears a token, and none signs in:
 * the client's session, if any, is only touched by `changePassword` (which sends its access
 * token). Each rejects with a {@link TesseraClientError} carrying the server's code, or
 * `RATE_LIMITED` (429, `retryAfter`), `NETWORK_ERROR`, `BAD_RESPONSE`, `HTTP_ERROR`.
 */
export interface AccountActions {
  /**
   * Asks the server to mail a password-reset link (`POST /auth/forgot-password`). Resolves when the
   * server accepted the request (202), which it answers whether or not the account exists: do not
   * tell the user more than "if the account exists, a mail is on its way".
   * Rejects with `VALIDATION_FAILED` (400, with `errors`), `RATE_LIMITED` (429), …
   */
  forgotPassword(input: { email: string }): Promise<void>
  /**
   * Sets a new password with the token from the reset link (`POST /auth/reset-password`, 204).
   * It does not sign in (the server opens no session): send the user to `login()` next. The
   * server ends the account's sessions, so a session this client holds is most likely revoked:
   * its next refresh is refused and the client signs out with reason `session-expired`. Call it
   * from a signed-out page, or `logout()` first.
   * Rejects with `ONE_TIME_TOKEN_INVALID` (400: unknown, used or expired link; ask for a new one),
   * `WEAK_PASSWORD` (400, `detail` says what to change), `VALIDATION_FAILED` (400, with `errors`), …
   */
  resetPassword(input: PasswordReset): Promise<void>
  /**
   * Confirms the email address with the token from the verification link (`POST /auth/verify-email`,
   * 204). It does not sign in. `client.user` is as last seen: call `me()` to see
   * `emailVerified` change. Rejects with `ONE_TIME_TOKEN_INVALID` (400: unknown, used or expired
   * link; offer `resendVerification`), …
   */
  verifyEmail(input: EmailVerification): Promise<void>
  /**
   * Asks the server to mail a new verification link (`POST /auth/verify-email/resend`). Resolves
   * when accepted (202), the same for every email, known, unknown or already verified.
   * Rejects with `VALIDATION_FAILED` (400), `RATE_LIMITED` (429), …
   */
  resendVerification(input: { email: string }): Promise<void>
  /**
   * Asks the server to mail a sign-in link (`POST /auth/magic-link`; the server must run with
   * `TESSERA_MAGIC_LINK=on`, else this rejects with `NOT_FOUND`). Resolves when the server accepted
   * the request (202), which it answers whether or not the account exists: tell the user no more
   * than "if the account exists, a link is on its way". The link (15 minutes, one use) opens the
   * server's `/magic-link` page or your own, which calls `signInWithMagicLink`.
   * Rejects with `VALIDATION_FAILED` (400, with `errors`), `RATE_LIMITED` (429), …
   */
  requestMagicLink(input: { email: string }): Promise<void>
  /**
   * Changes the signed-in user's password (`POST /auth/password` with the access token, refreshed
   * as by `client.fetch`, including the one retry on `TOKEN_EXPIRED` or `TOKEN_REVOKED`). Resolves on 204.
   * This session stays signed in; every other session of the user is revoked (their next refresh
   * is refused).
   * Rejects with `INVALID_CREDENTIALS` (401: the current password is wrong; the session is kept,
   * nothing is refreshed), `WEAK_PASSWORD` (400, `detail`), `VALIDATION_FAILED` (400, `errors`),
   * `NOT_SIGNED_IN` (no session; nothing was sent), `SESSION_EXPIRED`, `REFRESH_FAILED`, …
   */
  changePassword(input: PasswordChange): Promise<void>
  /**
   * Asks to move the signed-in user's account to `newEmail` (`POST /auth/email` with the access
   * token). Send the current `password`, or leave it out right after a sign-in or `stepUp` (within
   * 5 minutes). Resolves when accepted (202), which the server answers whether or not the address
   * has an account: a link goes to the new address (if free), a notice to the current one.
   * Nothing changes until `confirmEmailChange` with the link's token.
   * Rejects with `INVALID_CREDENTIALS` (401: wrong password; no refresh, no sign-out),
   * `STEP_UP_REQUIRED` (401: no password and no recent sign-in), `VALIDATION_FAILED` (400),
   * `RATE_LIMITED` (429), `NOT_SIGNED_IN`, …
   */
  changeEmail(input: { newEmail: string; password?: string }): Promise<void>
  /**
   * Makes the change with the token from the link mailed to the new address
   * (`POST /auth/email/confirm`, 204); needs no session. The account's access tokens issued before
   * are stale: a signed-in client refreshes on its next call and gets the new email.
   * Rejects with `ONE_TIME_TOKEN_INVALID` (400: unknown, used or expired link), `EMAIL_TAKEN`
   * (409: another account took the address meanwhile), …
   */
  confirmEmailChange(input: { token: string }): Promise<void>
}

export interface AccountDeps {
  /** Plain fetch, for the calls without a session. */
  fetch: FetchLike
  /** Fetch with the access token and its refresh; rejects with `NOT_SIGNED_IN` without a session. */
  authorizedFetch: FetchLike
  url(path: string): string
  /** Cookie mode: requests carry `credentials: 'include'`, like every auth request of the client. */
  cookie: boolean
  /** Local time, milliseconds since the epoch. */
  now(): number
}

/**
 * Checks the answer is exactly the success `status` the contract gives, else throws the server's
 * typed error, or `BAD_RESPONSE` for any other success (a static host's 200 page, say).
 */
export async function expectStatus(response: Response, status: number, nowMs: number): Promise<Response> {
  if (!response.ok) throw await errorFromResponse(response, nowMs)
  if (response.status !== status) throw badResponse(response, `the ${status} Tessera answers here`)
  return response
}

/** Checks a 202 answer and its body `{ status: expected }`. */
export async function expectAccepted(response: Response, expected: string, nowMs: number): Promise<void> {
  await expectStatus(response, 202, nowMs)
  const body = await readJson(response)
  if (!isRecord(body) || body.status !== expected) {
    throw badResponse(response, `{ status: '${expected}' }`)
  }
}

export function createAccountActions(deps: AccountDeps): AccountActions {
  const post = (path: string, body: unknown) => send(deps.fetch, deps.url(path), jsonPost(body, deps.cookie))

  return {
    async forgotPassword({ email }) {
      await expectAccepted(await post('/auth/forgot-password', { email }), 'accepted', deps.now())
    },

    async resetPassword({ token, password }) {
      await expectStatus(await post('/auth/reset-password', { token, password }), 204, deps.now())
    },

    async verifyEmail({ token }) {
      await expectStatus(await post('/auth/verify-email', { token }), 204, deps.now())
    },

    async resendVerification({ email }) {
      await expectAccepted(await post('/auth/verify-email/resend', { email }), 'accepted', deps.now())
    },

    async requestMagicLink({ email }) {
      await expectAccepted(await post('/auth/magic-link', { email }), 'accepted', deps.now())
    },

    async changePassword({ currentPassword, newPassword }) {
      // a 401 INVALID_CREDENTIALS comes back as it is: only TOKEN_EXPIRED and TOKEN_REVOKED make the fetch refresh
      const response = await send(
        deps.authorizedFetch,
        deps.url('/auth/password'),
        jsonPost({ currentPassword, newPassword }, deps.cookie),
      )
      await expectStatus(response, 204, deps.now())
    },

    async changeEmail({ newEmail, password }) {
      const body = password === undefined ? { newEmail } : { newEmail, password }
      const response = await send(deps.authorizedFetch, deps.url('/auth/email'), jsonPost(body, deps.cookie))
      await expectAccepted(response, 'accepted', deps.now())
    },

    async confirmEmailChange({ token }) {
      await expectStatus(await post('/auth/email/confirm', { token }), 204, deps.now())
    },
  }
}
