import { TesseraClientError } from './errors.js'

/**
 * The browser's WebAuthn, as the client calls it: JSON options in (as the server sends them),
 * `credential.toJSON()` out (as the server takes it). Declared here rather than taken from the
 * DOM library, whose WebAuthn JSON methods are newer than some TypeScript versions.
 */
export interface WebAuthnBridge {
  /** `navigator.credentials.create` with `PublicKeyCredentialCreationOptionsJSON`. */
  create(options: unknown): Promise<unknown>
  /** `navigator.credentials.get` with `PublicKeyCredentialRequestOptionsJSON`. */
  get(options: unknown): Promise<unknown>
}

interface PublicKeyCredentialStatics {
  parseCreationOptionsFromJSON(options: unknown): unknown
  parseRequestOptionsFromJSON(options: unknown): unknown
}

interface CredentialsContainerLike {
  create(options: { publicKey: unknown }): Promise<unknown>
  get(options: { publicKey: unknown }): Promise<unknown>
}

const isObject = (value: unknown): value is object =>
  (typeof value === 'object' || typeof value === 'function') && value !== null

const hasStatics = (value: unknown): value is PublicKeyCredentialStatics =>
  isObject(value) &&
  'parseCreationOptionsFromJSON' in value &&
  typeof value.parseCreationOptionsFromJSON === 'function' &&
  'parseRequestOptionsFromJSON' in value &&
  typeof value.parseRequestOptionsFromJSON === 'function'

const isContainer = (value: unknown): value is CredentialsContainerLike =>
  isObject(value) &&
  'create' in value &&
  typeof value.create === 'function' &&
  'get' in value &&
  typeof value.get === 'function'

/** The credential as JSON (`credential.toJSON()`, WebAuthn Level 3). */
function toJson(credential: unknown): unknown {
  if (!isObject(credential) || !('toJSON' in credential) || typeof credential.toJSON !== 'function') {
    throw new TesseraClientError('WEBAUTHN_FAILED', {
      detail: 'The browser answered without a credential that converts to JSON.',
    })
  }
  return credential.toJSON()
}

/**
 * What went wrong inside `navigator.credentials`: the user closed the dialog or the time ran out
 * (`NotAllowedError`, `AbortError`: `PASSKEY_CANCELLED`), the authenticator holds one of the
 * user's passkeys already (`InvalidStateError` at registration: `PASSKEY_EXISTS`), anything else
 * (`SecurityError` for a page outside the relying party, …: `WEBAUTHN_FAILED`).
 */
function ceremonyError(cause: unknown): TesseraClientError {
  const name = isObject(cause) && 'name' in cause ? cause.name : undefined
  if (name === 'NotAllowedError' || name === 'AbortError') {
    return new TesseraClientError('PASSKEY_CANCELLED', {
      detail: 'The passkey prompt was dismissed or timed out.',
      retryable: true,
      cause,
    })
  }
  if (name === 'InvalidStateError') {
    return new TesseraClientError('PASSKEY_EXISTS', {
      detail: 'This authenticator already holds a passkey of this account.',
      cause,
    })
  }
  return new TesseraClientError('WEBAUTHN_FAILED', {
    detail: 'The browser could not complete the passkey request.',
    cause,
  })
}

/**
 * The page's WebAuthn (`navigator.credentials` with `PublicKeyCredential`'s JSON methods), or a
 * `WEBAUTHN_UNAVAILABLE` error where there is none: Node, an insecure context (http:// other than
 * localhost), a browser too old for `parseCreationOptionsFromJSON`.
 */
export function browserWebAuthn(): WebAuthnBridge {
  const scope: { PublicKeyCredential?: unknown; navigator?: unknown } = globalThis
  const statics = scope.PublicKeyCredential
  const navigator = scope.navigator
  const credentials = isObject(navigator) && 'credentials' in navigator ? navigator.credentials : undefined
  if (!hasStatics(statics) || !isContainer(credentials)) {
    throw new TesseraClientError('WEBAUTHN_UNAVAILABLE', {
      detail:
        'Passkeys need a browser with WebAuthn (PublicKeyCredential.parseCreationOptionsFromJSON) on a secure page.',
    })
  }
  async function run(call: () => Promise<unknown>): Promise<unknown> {
    let credential: unknown
    try {
      credential = await call()
    } catch (cause) {
      throw ceremonyError(cause)
    }
    if (credential === null) {
      throw new TesseraClientError('PASSKEY_CANCELLED', { detail: 'No passkey was chosen.', retryable: true })
    }
    return toJson(credential)
  }
  return {
    create: (options) =>
      run(() => credentials.create({ publicKey: statics.parseCreationOptionsFromJSON(options) })),
    get: (options) => run(() => credentials.get({ publicKey: statics.parseRequestOptionsFromJSON(options) })),
  }
}
