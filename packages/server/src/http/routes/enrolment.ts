import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { TesseraError } from '../../errors.js'
import type { FlowDeps } from '../../flows/deps.js'
import { authenticateEnroller, type Enroller } from '../../flows/mfa/enrolment.js'
import { confirmTotp, setupTotp } from '../../flows/mfa/totp-enrolment.js'
import {
  PASSKEY_NAME_MAX,
  passkeyRegistrationOptions,
  registerPasskey,
} from '../../flows/passkeys/register-passkey.js'
import { bearerToken } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { perUser, rateLimited } from '../rate-limit.js'
import {
  ChallengeId,
  CreationCeremony,
  RegistrationResponse,
  responses,
  TokenDelivery,
  TokenResponse,
  TotpCode,
} from '../schemas.js'
import { tokenReplies } from '../token-reply.js'

const security = [{ bearerAuth: [] }]

declare module 'fastify' {
  interface FastifyRequest {
    enroller?: Enroller
  }
}

const AddedPasskey = Type.Object({
  passkey: Type.Object({
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
  }),
})

const RecoveryCodes = Type.Object({
  recoveryCodes: Type.Array(Type.String(), { description: 'Shown this once; each signs in once.' }),
})

/**
 * Enrolling a second factor (TOTP, a passkey): for a signed-in user (an access token, a recent
 * sign-in), and for a user whose login answered `mfa_enrollment_required` (the enrolment token as
 * the Bearer token), whose first confirmed factor then answers their session (API.md "Second
 * factors, passkeys, magic links").
 */
export const enrolmentRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const sendTokens = tokenReplies(deps).tokens
    app.decorateRequest('enroller', undefined)
    app.addHook('onRequest', async (request) => {
      request.enroller = await authenticateEnroller(deps, bearerToken(request))
    })
    const enrollerOf = (request: FastifyRequest): Enroller => {
      if (!request.enroller) throw new TesseraError('INTERNAL', { reason: 'authentication hook did not run' })
      return request.enroller
    }
    const limitPerUser = perUser(deps.config.limits, enrollerOf)

    app.post(
      '/auth/mfa/totp/setup',
      {
        schema: {
          tags: ['mfa'],
          summary: 'Start a TOTP enrolment: a new secret, pending until confirmed',
          description:
            'Needs a verified email (403 EMAIL_NOT_VERIFIED) and a sign-in within the last 5 minutes ' +
            '(401 STEP_UP_REQUIRED), or the enrolment token of a login answered `mfa_enrollment_required` ' +
            'as the Bearer token; 409 TOTP_ALREADY_ENABLED when TOTP is on. A second setup before ' +
            'confirming replaces the pending secret.',
          security,
          response: responses({
            200: Type.Object({
              secret: Type.String({ description: 'Base32, to type into an app by hand.' }),
              otpauthUri: Type.String(),
              qrSvg: Type.String({ description: 'The otpauth URI as a QR code, an SVG document.' }),
            }),
          }),
        },
        ...rateLimited(deps.limits, limitPerUser('totp-setup')),
      },
      async (request, reply) =>
        reply.header('cache-control', 'no-store').send(await setupTotp(deps, enrollerOf(request))),
    )

    app.post(
      '/auth/mfa/totp/confirm',
      {
        schema: {
          tags: ['mfa'],
          summary: 'Confirm the pending TOTP with a code; answers the 10 recovery codes, once',
          description:
            'With an enrolment token as the Bearer token the answer also signs the user in: the token ' +
            'response (refresh token by `tokenDelivery`, the cookie by default) beside `recoveryCodes`. ' +
            'A wrong code is 401 MFA_CODE_INVALID; 5 kill the enrolment token (401 MFA_TOKEN_INVALID).',
          security,
          body: Type.Object(
            { code: TotpCode, tokenDelivery: Type.Optional(TokenDelivery) },
            { additionalProperties: false },
          ),
          response: responses({
            200: Type.Union([Type.Composite([RecoveryCodes, TokenResponse]), RecoveryCodes]),
          }),
        },
        ...rateLimited(deps.limits, limitPerUser('totp-confirm')),
      },
      async (request, reply) => {
        const result = await confirmTotp(deps, enrollerOf(request), request.body.code, clientContext(request))
        if (result.tokens) {
          return sendTokens(reply, result.tokens, request.body.tokenDelivery ?? 'cookie', 200, {
            recoveryCodes: result.recoveryCodes,
          })
        }
        return reply.header('cache-control', 'no-store').send({ recoveryCodes: result.recoveryCodes })
      },
    )

    app.post(
      '/auth/passkeys/register/options',
      {
        schema: {
          tags: ['passkeys'],
          summary: 'Start registering a passkey: options for navigator.credentials.create',
          description:
            'Needs a verified email (403 EMAIL_NOT_VERIFIED) and a sign-in within the last 5 minutes ' +
            '(401 STEP_UP_REQUIRED). Asks for a discoverable credential with user verification, none of ' +
            "the user's passkeys again. The challenge is single use and lives 5 minutes. Takes the " +
            'enrolment token of a login answered `mfa_enrollment_required` as the Bearer token too.',
          security,
          response: responses({ 200: CreationCeremony }),
        },
        ...rateLimited(deps.limits, limitPerUser('passkey-register')),
      },
      async (request, reply) =>
        reply
          .header('cache-control', 'no-store')
          .send(await passkeyRegistrationOptions(deps, enrollerOf(request))),
    )

    app.post(
      '/auth/passkeys/register/verify',
      {
        schema: {
          tags: ['passkeys'],
          summary: "Finish registering a passkey with the authenticator's answer; the user is mailed",
          description:
            '400 CHALLENGE_INVALID for a used, expired or foreign challenge; 400 ATTESTATION_INVALID ' +
            'when the answer does not verify (origin, RP id, challenge, user verification); 409 PASSKEY_EXISTS ' +
            'for a credential registered already. Without a name the passkey is called "Passkey N". With ' +
            'an enrolment token as the Bearer token the answer also signs the user in: the token response ' +
            '(refresh token by `tokenDelivery`) beside `passkey`.',
          security,
          body: Type.Object(
            {
              challengeId: ChallengeId,
              response: RegistrationResponse,
              name: Type.Optional(Type.String({ maxLength: PASSKEY_NAME_MAX })),
              tokenDelivery: Type.Optional(TokenDelivery),
            },
            { additionalProperties: false },
          ),
          response: responses({
            201: Type.Union([Type.Composite([AddedPasskey, TokenResponse]), AddedPasskey]),
          }),
        },
        ...rateLimited(deps.limits, limitPerUser('passkey-register')),
      },
      async (request, reply) => {
        const { tokenDelivery, ...input } = request.body
        const result = await registerPasskey(deps, enrollerOf(request), input, clientContext(request))
        const passkey = {
          id: result.passkey.id,
          name: result.passkey.name,
          createdAt: result.passkey.createdAt.toISOString(),
        }
        if (result.tokens)
          return sendTokens(reply, result.tokens, tokenDelivery ?? 'cookie', 201, { passkey })
        return reply.code(201).send({ passkey })
      },
    )
  }
