import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server'
import { isoCBOR } from '@simplewebauthn/server/helpers'

/** Authenticator-data flags (WebAuthn §6.1). */
const UP = 0x01
const UV = 0x04
const BE = 0x08
const BS = 0x10
const AT = 0x40

const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest()
const b64url = (data: Uint8Array): string => Buffer.from(data).toString('base64url')

export interface SoftAuthenticatorOptions {
  /** The origin the "browser" reports in its client data; default the test server's. */
  origin?: string
  /** Backup eligible (a synced passkey): BE set, and BS too. Default false (a device-bound one). */
  backupEligible?: boolean
  /** Whether the "user" is verified (UV). Default true. */
  userVerified?: boolean
}

/** What a ceremony may change, to make an answer wrong in one way. */
export interface AnswerOverrides {
  origin?: string
  challenge?: string
  rpId?: string
  userVerified?: boolean
  /** The signature counter to report; default the next one. */
  counter?: number
  /** The user handle to answer with (base64url); default the one registration gave. */
  userHandle?: string
}

/**
 * A WebAuthn authenticator and browser in one, for tests: an ES256 (P-256) key from node:crypto,
 * `none` attestation at registration, signed assertions with the UP/UV/BE/BS flags and a counter.
 * Answers are what `credential.toJSON()` gives in a browser.
 */
export function softAuthenticator(options: SoftAuthenticatorOptions = {}) {
  const origin = options.origin ?? 'http://localhost:3000'
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const credentialId = randomBytes(16)
  let counter = 0
  let userHandle: string | undefined

  // COSE_Key (RFC 9053): kty EC2, alg ES256, crv P-256, x, y
  const coseKey = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x ?? '', 'base64url')],
      [-3, Buffer.from(jwk.y ?? '', 'base64url')],
    ]),
  )

  const flagsOf = (userVerified: boolean) =>
    UP | (userVerified ? UV : 0) | (options.backupEligible ? BE | BS : 0)

  function authenticatorData(rpId: string, flags: number, count: number, attested?: Uint8Array): Buffer {
    const counterBytes = Buffer.alloc(4)
    counterBytes.writeUInt32BE(count)
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), counterBytes, ...(attested ? [attested] : [])])
  }

  const clientData = (type: string, challenge: string, at: string) =>
    Buffer.from(JSON.stringify({ type, challenge, origin: at, crossOrigin: false }))

  return {
    credentialId: b64url(credentialId),
    get counter() {
      return counter
    },

    /** Answers `navigator.credentials.create` with these options. */
    register(
      creation: PublicKeyCredentialCreationOptionsJSON,
      overrides: AnswerOverrides = {},
    ): RegistrationResponseJSON {
      userHandle = creation.user.id
      const idLength = Buffer.alloc(2)
      idLength.writeUInt16BE(credentialId.length)
      const attested = Buffer.concat([Buffer.alloc(16), idLength, credentialId, coseKey])
      const authData = authenticatorData(
        overrides.rpId ?? creation.rp.id ?? 'localhost',
        flagsOf(overrides.userVerified ?? options.userVerified ?? true) | AT,
        counter,
        attested,
      )
      const attStmt = new Map<string, string>()
      const attestationObject = isoCBOR.encode(
        new Map<string, string | Uint8Array | Map<string, string>>([
          ['fmt', 'none'],
          ['attStmt', attStmt],
          ['authData', authData],
        ]),
      )
      return {
        id: b64url(credentialId),
        rawId: b64url(credentialId),
        type: 'public-key',
        response: {
          clientDataJSON: b64url(
            clientData(
              'webauthn.create',
              overrides.challenge ?? creation.challenge,
              overrides.origin ?? origin,
            ),
          ),
          attestationObject: b64url(attestationObject),
          transports: ['internal'],
        },
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
      }
    },

    /** Answers `navigator.credentials.get` with these options, signing with the next counter. */
    authenticate(
      request: PublicKeyCredentialRequestOptionsJSON,
      overrides: AnswerOverrides = {},
    ): AuthenticationResponseJSON {
      const count = overrides.counter ?? counter + 1
      counter = Math.max(counter, count)
      const authData = authenticatorData(
        overrides.rpId ?? request.rpId ?? 'localhost',
        flagsOf(overrides.userVerified ?? options.userVerified ?? true),
        count,
      )
      const clientDataJSON = clientData(
        'webauthn.get',
        overrides.challenge ?? request.challenge,
        overrides.origin ?? origin,
      )
      const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), privateKey)
      return {
        id: b64url(credentialId),
        rawId: b64url(credentialId),
        type: 'public-key',
        response: {
          clientDataJSON: b64url(clientDataJSON),
          authenticatorData: b64url(authData),
          signature: b64url(signature),
          ...((overrides.userHandle ?? userHandle) ? { userHandle: overrides.userHandle ?? userHandle } : {}),
        },
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
      }
    },
  }
}

export type SoftAuthenticator = ReturnType<typeof softAuthenticator>
