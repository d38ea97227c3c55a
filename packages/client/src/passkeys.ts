import { expectStatus } from './account.js'
import { badResponse, type FetchLike, jsonPost, readJson, send } from './http.js'
import { isRecord } from './types.js'
import type { WebAuthnBridge } from './webauthn.js'

/** A passkey of the user, as `listPasskeys()` gives it. */
export interface PasskeyInfo {
  id: string
  /** Given at registration, or `Passkey N`. */
  name: string
  /** ISO 8601. */
  createdAt: string
  /** ISO 8601; null until first used to sign in. */
  lastUsedAt: string | null
  /** Synced to the user's other devices by its provider (at its last use). */
  backedUp: boolean
}

/** A new passkey (`registerPasskey()`). */
export interface NewPasskey {
  id: string
  name: string
  /** ISO 8601. */
  createdAt: string
}

/** A WebAuthn ceremony as the server starts it: the challenge's id and the options for the browser. */
export interface Ceremony {
  challengeId: string
  options: unknown
}

/** Passkey management; each call needs a session (its access token, refreshed as by `fetch`). */
export interface PasskeyActions {
  /**
   * Registers a passkey of this device or a security key (`navigator.credentials.create`), so the
   * user can sign in with it alone (`signInWithPasskey`) or use it as the second factor. Needs a
   * verified email (`EMAIL_NOT_VERIFIED`) and a sign-in in the last 5 minutes (`STEP_UP_REQUIRED`:
   * step up, then call again). Rejects with `WEBAUTHN_UNAVAILABLE` where the browser has no
   * WebAuthn, `PASSKEY_CANCELLED` when the user dismissed the prompt, `PASSKEY_EXISTS` when the
   * authenticator holds one of the user's passkeys already, `ATTESTATION_INVALID` when the server
   * could not verify it. `name` (at most 100 characters) defaults to "Passkey N". After a login
   * that answered `mfa_enrollment_required` it uses the enrolment token instead, and signs in.
   */
  registerPasskey(options?: { name?: string }): Promise<NewPasskey>
  /** The user's passkeys, oldest first (`GET /auth/passkeys`). */
  listPasskeys(): Promise<PasskeyInfo[]>
  /**
   * Removes one of the user's passkeys (`DELETE /auth/passkeys/:id`); needs a sign-in in the last
   * 5 minutes (`STEP_UP_REQUIRED`). `NOT_FOUND` for an id that is not one of the user's.
   */
  deletePasskey(id: string): Promise<void>
}

export interface PasskeyDeps {
  authorizedFetch: FetchLike
  url(path: string): string
  cookie: boolean
  now(): number
  /** The browser's WebAuthn, asked for at the moment of a ceremony. */
  webauthn(): WebAuthnBridge
}

/** The `{ challengeId, options }` a ceremony starts with, or `undefined`. */
export const asCeremony = (value: unknown): Ceremony | undefined =>
  isRecord(value) && typeof value.challengeId === 'string' && isRecord(value.options)
    ? { challengeId: value.challengeId, options: value.options }
    : undefined

const isPasskeyInfo = (value: unknown): value is PasskeyInfo =>
  isRecord(value) &&
  typeof value.id === 'string' &&
  typeof value.name === 'string' &&
  typeof value.createdAt === 'string' &&
  (value.lastUsedAt === null || typeof value.lastUsedAt === 'string') &&
  typeof value.backedUp === 'boolean'

/** The `passkey` of a registration's answer, or `undefined`. */
export function asNewPasskey(answer: unknown): NewPasskey | undefined {
  const passkey = isRecord(answer) ? answer.passkey : undefined
  if (
    !isRecord(passkey) ||
    typeof passkey.id !== 'string' ||
    typeof passkey.name !== 'string' ||
    typeof passkey.createdAt !== 'string'
  ) {
    return undefined
  }
  return { id: passkey.id, name: passkey.name, createdAt: passkey.createdAt }
}

/** Reads a ceremony's options answer, or throws BAD_RESPONSE. */
export async function readCeremony(response: Response): Promise<Ceremony> {
  const ceremony = asCeremony(await readJson(response))
  if (!ceremony) throw badResponse(response, '{ challengeId, options }')
  return ceremony
}

export function createPasskeyActions(deps: PasskeyDeps): PasskeyActions {
  const post = (path: string, body: unknown) =>
    send(deps.authorizedFetch, deps.url(path), jsonPost(body, deps.cookie))

  return {
    async registerPasskey(options = {}) {
      // before any request: a page without WebAuthn learns it at once
      const webauthn = deps.webauthn()
      const started = await expectStatus(await post('/auth/passkeys/register/options', {}), 200, deps.now())
      const { challengeId, options: creation } = await readCeremony(started)
      const credential = await webauthn.create(creation)
      const body = {
        challengeId,
        response: credential,
        ...(options.name === undefined ? {} : { name: options.name }),
      }
      const response = await expectStatus(await post('/auth/passkeys/register/verify', body), 201, deps.now())
      const passkey = asNewPasskey(await readJson(response))
      if (!passkey) throw badResponse(response, '{ passkey: { id, name, createdAt } }')
      return passkey
    },

    async listPasskeys() {
      const response = await expectStatus(
        await send(deps.authorizedFetch, deps.url('/auth/passkeys'), {
          headers: { accept: 'application/json' },
        }),
        200,
        deps.now(),
      )
      const body = await readJson(response)
      if (!isRecord(body) || !Array.isArray(body.passkeys) || !body.passkeys.every(isPasskeyInfo)) {
        throw badResponse(response, '{ passkeys }')
      }
      return body.passkeys
    },

    async deletePasskey(id) {
      await expectStatus(
        await send(deps.authorizedFetch, deps.url(`/auth/passkeys/${encodeURIComponent(id)}`), {
          method: 'DELETE',
        }),
        204,
        deps.now(),
      )
    },
  }
}
