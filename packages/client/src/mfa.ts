import { expectStatus } from './account.js'
import { badResponse, type FetchLike, jsonPost, readJson, send } from './http.js'
import { isRecord } from './types.js'

/** The second factors the server offers at `mfa_required`. */
export type MfaMethod = 'totp' | 'recovery_code' | 'passkey'

/**
 * What `login()` resolves to when the account has a second factor: no session yet. The client
 * keeps the short-lived `mfaToken` (5 minutes, single purpose) itself; finish with
 * `verifyMfa({ code })`, `verifyMfa({ recoveryCode })` or `verifyMfa({ passkey: true })`.
 */
export interface MfaRequired {
  status: 'mfa_required'
  /** The factors the user can finish with, e.g. `['totp', 'recovery_code', 'passkey']`. */
  methods: MfaMethod[]
}

/**
 * What `login()` resolves to when the user's role requires a second factor they have not set up
 * (the server's `TESSERA_MFA_REQUIRED_ROLES`): no session yet. The client keeps the enrolment
 * token (15 minutes, good for nothing else); call `setupTotp()`, show the QR code, then
 * `confirmTotp(code)`, which signs in.
 */
export interface MfaEnrollmentRequired {
  status: 'mfa_enrollment_required'
}

/** A code the user types: from the authenticator app, or one of the recovery codes. */
export type CodeProof = { code: string } | { recoveryCode: string }

/**
 * A second factor: a TOTP code from the authenticator app, one of the recovery codes, or one of
 * the user's passkeys (`{ passkey: true }`: the client asks the browser, `navigator.credentials.get`).
 */
export type MfaProof = CodeProof | { passkey: true }

/** What `stepUp()` takes: a second factor, or the password (meets a `maxAge`, never `mfa`). */
export type StepUpProof = MfaProof | { password: string }

/** The user's second factors (`GET /auth/mfa`). */
export interface MfaStatus {
  totp: boolean
  /** How many passkeys the user registered. */
  passkeys: number
  recoveryCodesLeft: number
}

/** A pending TOTP enrolment (`POST /auth/mfa/totp/setup`); `confirmTotp(code)` switches it on. */
export interface TotpSetup {
  /** The base32 secret, for typing into an authenticator app by hand. */
  secret: string
  /** The `otpauth://totp/…` URI the QR code holds. */
  otpauthUri: string
  /** The QR code as an SVG document; safe to show as an image (`data:image/svg+xml,…`). */
  qrSvg: string
}

/** The ten recovery codes, shown once: the server keeps only their hashes. */
export interface RecoveryCodes {
  recoveryCodes: string[]
}

/** Second-factor management calls; each needs a session (its access token, refreshed as by `fetch`). */
export interface MfaActions {
  /**
   * Starts a TOTP enrolment (`POST /auth/mfa/totp/setup`): show `qrSvg` (or `secret`), then call
   * `confirmTotp` with a code from the app. Needs a verified email and a sign-in in the last 5
   * minutes, else `STEP_UP_REQUIRED` (step up, then call again); `EMAIL_NOT_VERIFIED` (403);
   * `TOTP_ALREADY_ENABLED` (409) when TOTP is on already. After a login that answered
   * `mfa_enrollment_required` it uses the enrolment token instead of a session.
   */
  setupTotp(): Promise<TotpSetup>
  /**
   * Confirms the pending enrolment with a code from the app (`POST /auth/mfa/totp/confirm`);
   * resolves to the ten recovery codes, which the server never shows again. After a login that
   * answered `mfa_enrollment_required` it also signs in (the `signed-in` event follows). Rejects
   * with `MFA_CODE_INVALID` for a wrong code, `MFA_TOKEN_INVALID` when the enrolment token died
   * (15 minutes, or 5 wrong codes: call `login()` again).
   */
  confirmTotp(code: string): Promise<RecoveryCodes>
  /**
   * Turns TOTP off (`DELETE /auth/mfa/totp`) with a current code; the recovery codes go with it
   * and the user is mailed. Needs a sign-in in the last 5 minutes (`STEP_UP_REQUIRED`); rejects
   * with `MFA_CODE_INVALID` for a wrong code.
   */
  disableTotp(code: string): Promise<void>
  /**
   * Ten new recovery codes (`POST /auth/mfa/recovery-codes`) for a current TOTP code; the old ones
   * stop working. Needs a sign-in in the last 5 minutes (`STEP_UP_REQUIRED`); rejects with
   * `MFA_CODE_INVALID` for a wrong code.
   */
  regenerateRecoveryCodes(code: string): Promise<RecoveryCodes>
  /** The user's second factors (`GET /auth/mfa`). */
  mfaStatus(): Promise<MfaStatus>
}

export interface MfaDeps {
  /** Fetch with the access token and its refresh; rejects with `NOT_SIGNED_IN` without a session. */
  authorizedFetch: FetchLike
  url(path: string): string
  cookie: boolean
  /** Local time, milliseconds since the epoch. */
  now(): number
}

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string')

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

const METHODS: readonly string[] = ['totp', 'recovery_code', 'passkey']

/**
 * The `{ status: 'mfa_required', mfaToken, methods }` of a login, or `undefined` when the body is
 * something else. Methods this client does not know are left out.
 */
export function asMfaChallenge(value: unknown): { mfaToken: string; methods: MfaMethod[] } | undefined {
  if (!isRecord(value) || value.status !== 'mfa_required') return undefined
  if (typeof value.mfaToken !== 'string' || value.mfaToken === '' || !isStringList(value.methods)) {
    return undefined
  }
  const methods = value.methods.filter((method): method is MfaMethod => METHODS.includes(method))
  return { mfaToken: value.mfaToken, methods }
}

/** The enrolment token of a `{ status: 'mfa_enrollment_required', enrollmentToken }` answer, or undefined. */
export function asEnrolmentChallenge(value: unknown): string | undefined {
  if (!isRecord(value) || value.status !== 'mfa_enrollment_required') return undefined
  return typeof value.enrollmentToken === 'string' && value.enrollmentToken !== ''
    ? value.enrollmentToken
    : undefined
}

/** `{ secret, otpauthUri, qrSvg }` of a TOTP setup answer, or undefined. */
export function asTotpSetup(value: unknown): TotpSetup | undefined {
  if (
    !isRecord(value) ||
    typeof value.secret !== 'string' ||
    typeof value.otpauthUri !== 'string' ||
    typeof value.qrSvg !== 'string'
  ) {
    return undefined
  }
  return { secret: value.secret, otpauthUri: value.otpauthUri, qrSvg: value.qrSvg }
}

/** The recovery codes of a TOTP confirm answer, or undefined. */
export function asRecoveryCodes(value: unknown): string[] | undefined {
  return isRecord(value) && isStringList(value.recoveryCodes) ? value.recoveryCodes : undefined
}

/** Only the field of the proof that was given, so a stray extra key never reaches the server. */
export function proofBody(proof: CodeProof | { password: string }): Record<string, string> {
  if ('code' in proof) return { code: proof.code }
  if ('recoveryCode' in proof) return { recoveryCode: proof.recoveryCode }
  return { password: proof.password }
}

export function createMfaActions(deps: MfaDeps): MfaActions {
  const get = (path: string) =>
    send(deps.authorizedFetch, deps.url(path), { headers: { accept: 'application/json' } })
  const post = (path: string, body: unknown) =>
    send(deps.authorizedFetch, deps.url(path), jsonPost(body, deps.cookie))

  return {
    async setupTotp() {
      const response = await expectStatus(await post('/auth/mfa/totp/setup', {}), 200, deps.now())
      const setup = asTotpSetup(await readJson(response))
      if (!setup) throw badResponse(response, '{ secret, otpauthUri, qrSvg }')
      return setup
    },

    async confirmTotp(code) {
      const response = await expectStatus(await post('/auth/mfa/totp/confirm', { code }), 200, deps.now())
      const recoveryCodes = asRecoveryCodes(await readJson(response))
      if (!recoveryCodes) throw badResponse(response, '{ recoveryCodes }')
      return { recoveryCodes }
    },

    async disableTotp(code) {
      const init = jsonPost({ code }, deps.cookie)
      await expectStatus(
        await send(deps.authorizedFetch, deps.url('/auth/mfa/totp'), { ...init, method: 'DELETE' }),
        204,
        deps.now(),
      )
    },

    async regenerateRecoveryCodes(code) {
      const response = await expectStatus(await post('/auth/mfa/recovery-codes', { code }), 200, deps.now())
      const recoveryCodes = asRecoveryCodes(await readJson(response))
      if (!recoveryCodes) throw badResponse(response, '{ recoveryCodes }')
      return { recoveryCodes }
    },

    async mfaStatus() {
      const response = await expectStatus(await get('/auth/mfa'), 200, deps.now())
      const body = await readJson(response)
      if (
        !isRecord(body) ||
        typeof body.totp !== 'boolean' ||
        !isCount(body.passkeys) ||
        !isCount(body.recoveryCodesLeft)
      ) {
        throw badResponse(response, '{ totp, passkeys, recoveryCodesLeft }')
      }
      return { totp: body.totp, passkeys: body.passkeys, recoveryCodesLeft: body.recoveryCodesLeft }
    },
  }
}
