import { type Static, Type } from '@sinclair/typebox'
import type { Config } from '../config.js'
import { EMAIL_PATTERN } from '../email-address.js'

export const TokenDelivery = Type.Union([Type.Literal('cookie'), Type.Literal('body')], {
  description:
    'How the refresh token is returned: an httpOnly cookie (default) or `refreshToken` in the body.',
})
export type TokenDelivery = Static<typeof TokenDelivery>

/**
 * An email address: a pattern rather than `format: email`, whose usual checkers accept `0@com` and
 * refuse Unicode, so that the OpenAPI document says exactly what the server takes.
 */
export const Email = Type.String({
  pattern: EMAIL_PATTERN,
  maxLength: 254,
  description:
    'RFC 6531 address (Unicode allowed); surrounding spaces are trimmed. One account per mailbox: ' +
    'the domain is compared in its IDNA (UTS #46) ASCII form and the local part NFKC-normalised and case-folded.',
})

/** Password bounds come from configuration, so the schema (and the OpenAPI document) is built per app. */
export const passwordSchema = (config: Pick<Config, 'passwordMinLength' | 'passwordMaxLength'>) =>
  Type.String({ minLength: config.passwordMinLength, maxLength: config.passwordMaxLength })

export const UserView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  roles: Type.Array(Type.String()),
  emailVerified: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  appMetadata: Type.Object(
    {},
    {
      additionalProperties: true,
      description:
        "What an administrator keeps about the user (at most 2 KiB); the access tokens' `app` claim.",
    },
  ),
})
export type UserView = Static<typeof UserView>

export const TokenResponse = Type.Object({
  user: Type.Optional(UserView),
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires.' }),
  refreshToken: Type.Optional(Type.String({ description: 'Only with tokenDelivery "body".' })),
})
export type TokenResponse = Static<typeof TokenResponse>

/** Login's answer for an account with a second factor: no tokens, an mfaToken for /auth/mfa/verify. */
export const MfaRequiredResponse = Type.Object({
  status: Type.Literal('mfa_required'),
  mfaToken: Type.String({ description: 'Opaque; lives 5 minutes; only POST /auth/mfa/verify takes it.' }),
  methods: Type.Array(
    Type.Union([Type.Literal('totp'), Type.Literal('recovery_code'), Type.Literal('passkey')]),
  ),
})

export const MfaEnrollmentRequiredResponse = Type.Object({
  status: Type.Literal('mfa_enrollment_required'),
  enrollmentToken: Type.String({
    description:
      'Opaque; lives 15 minutes; the Bearer token of the enrolment routes only (TOTP setup and confirm).',
  }),
})

/** A 6-digit TOTP code. */
export const TotpCode = Type.String({ minLength: 1, maxLength: 16 })
/** A recovery code as shown (`abcd-efgh-ijkl-mnop`); dashes, spaces and case do not matter. */
export const RecoveryCode = Type.String({ minLength: 1, maxLength: 64 })

export const SessionView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time' }),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
})

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
)

export const problemRef = Type.Unsafe<Static<typeof Problem>>(Type.Ref('Problem'))

/** An error answer as the OpenAPI document declares it: `application/problem+json`, not JSON. */
export const problemResponse = {
  description: 'RFC 9457 problem details with a stable `code`',
  content: { 'application/problem+json': { schema: problemRef } },
}

/** Response schemas for a route: its success shapes plus problem+json for every error status. */
export function responses<T extends Record<number, unknown>>(success: T) {
  return { ...success, '4xx': problemResponse, '5xx': problemResponse }
}

/** base64url without padding, as WebAuthn's `toJSON()` writes binary fields. */
const Base64Url = (maxLength: number, description?: string) =>
  Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength, ...(description ? { description } : {}) })

/** A credential id: up to 1023 bytes (WebAuthn), so at most 1364 base64url characters. */
const CredentialId = Base64Url(1364)

const credentialFields = {
  id: CredentialId,
  rawId: CredentialId,
  type: Type.Literal('public-key'),
  // null from browsers that cannot tell
  authenticatorAttachment: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Null()])),
  clientExtensionResults: Type.Object({}, { description: 'Read by nothing: Tessera asks for no extension.' }),
}

/** `RegistrationResponseJSON`: what `credential.toJSON()` gives after `navigator.credentials.create`. */
export const RegistrationResponse = Type.Object(
  {
    ...credentialFields,
    response: Type.Object({
      clientDataJSON: Base64Url(4096),
      attestationObject: Base64Url(12_000),
      transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })),
    }),
  },
  { description: "The browser's RegistrationResponseJSON (`credential.toJSON()`)." },
)

/** `AuthenticationResponseJSON`: what `credential.toJSON()` gives after `navigator.credentials.get`. */
export const AuthenticationResponse = Type.Object(
  {
    ...credentialFields,
    response: Type.Object({
      clientDataJSON: Base64Url(4096),
      authenticatorData: Base64Url(4096),
      signature: Base64Url(2048),
      userHandle: Type.Optional(Type.Union([Base64Url(128), Type.Null()])),
    }),
  },
  { description: "The browser's AuthenticationResponseJSON (`credential.toJSON()`)." },
)

/** The id of a WebAuthn challenge, from the options that carried it. */
export const ChallengeId = Type.String({
  format: 'uuid',
  description: 'From the options answer; single use, 5 minutes.',
})

/** A WebAuthn ceremony: its challenge's id and the options for `navigator.credentials`. */
const ceremony = (description: string) =>
  Type.Object({
    challengeId: Type.String({ format: 'uuid' }),
    // passed through whole: the browser reads every field WebAuthn defines
    options: Type.Object({ challenge: Type.String() }, { additionalProperties: true, description }),
  })

export const CreationCeremony = ceremony(
  'PublicKeyCredentialCreationOptionsJSON, for PublicKeyCredential.parseCreationOptionsFromJSON',
)
export const RequestCeremony = ceremony(
  'PublicKeyCredentialRequestOptionsJSON, for PublicKeyCredential.parseRequestOptionsFromJSON',
)

export const PasskeyView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  backedUp: Type.Boolean({ description: 'Synced to other devices by its provider (at its last use).' }),
})
