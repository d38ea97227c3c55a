import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { TesseraError } from '../../errors.js'
import { authenticate } from '../../flows/authenticate.js'
import type { FlowDeps } from '../../flows/deps.js'
import { pendingSignIn } from '../../flows/mfa/mfa-sign-in.js'
import { passkeyFactorOptions } from '../../flows/passkeys/passkey-factor.js'
import { passkeyLoginOptions, signInWithPasskey } from '../../flows/passkeys/passkey-sign-in.js'
import { bearerToken } from '../bearer.js'
import { clientContext } from '../client-context.js'
import { byIp, rateLimited } from '../rate-limit.js'
import {
  AuthenticationResponse,
  ChallengeId,
  RequestCeremony,
  responses,
  TokenDelivery,
  TokenResponse,
} from '../schemas.js'
import { tokenReplies } from '../token-reply.js'

/** Signing in with a passkey: alone, or as the second factor of a sign-in or a step-up. */
export const passkeySignInRoutes =
  (deps: FlowDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const rules = deps.config.limits
    const sendTokens = tokenReplies(deps).tokens
    const starts = [{ name: 'passkey-start:ip', rule: rules.passkey, key: byIp }]

    app.post(
      '/auth/passkeys/login/options',
      {
        schema: {
          tags: ['passkeys'],
          summary: 'Start a sign-in with a passkey alone: options for navigator.credentials.get',
          description:
            'No allowed credentials: the browser offers the discoverable passkeys it holds for this ' +
            'relying party. User verification is required. The challenge is single use and lives 5 minutes.',
          response: responses({ 200: RequestCeremony }),
        },
        ...rateLimited(deps.limits, starts),
      },
      async (_request, reply) =>
        reply.header('cache-control', 'no-store').send(await passkeyLoginOptions(deps)),
    )

    app.post(
      '/auth/passkeys/login/verify',
      {
        schema: {
          tags: ['passkeys'],
          summary: 'Sign in with a passkey alone; always opens a new session',
          description:
            'The answer of navigator.credentials.get to the options of POST /auth/passkeys/login/options. ' +
            '401 PASSKEY_INVALID for an unknown passkey or one that does not verify (signature, origin, ' +
            'RP id, user verification, a counter that went back); 400 CHALLENGE_INVALID for a used or ' +
            'expired challenge; 403 ACCOUNT_DISABLED. The tokens claim `amr` `hwk` (or `swk` for a synced ' +
            'passkey), `user` and `mfa`.',
          body: Type.Object(
            {
              challengeId: ChallengeId,
              response: AuthenticationResponse,
              tokenDelivery: Type.Optional(TokenDelivery),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: TokenResponse }),
        },
        ...rateLimited(deps.limits, [
          { name: 'passkey-login:ip', rule: rules.passkey, key: byIp },
          { name: 'login-failed:ip', rule: rules.loginFailed, key: byIp, onlyStatus: 401 },
        ]),
      },
      async (request, reply) => {
        const { tokenDelivery, ...input } = request.body
        const issued = await signInWithPasskey(deps, input, clientContext(request))
        return sendTokens(reply, issued, tokenDelivery ?? 'cookie', 200)
      },
    )

    app.post(
      '/auth/mfa/passkey/options',
      {
        schema: {
          tags: ['mfa'],
          summary: 'Start a passkey as second factor: options for navigator.credentials.get',
          description:
            'With `mfaToken` (a login answered `mfa_required`): for POST /auth/mfa/verify. Without it, ' +
            'with `Authorization: Bearer`: for POST /auth/mfa/step-up. The allowed credentials are ' +
            "the user's passkeys (404 NOT_FOUND when there is none). The challenge is single use, lives " +
            '5 minutes, and serves only that sign-in or that user.',
          security: [{}, { bearerAuth: [] }],
          body: Type.Object(
            { mfaToken: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) },
            { additionalProperties: false },
          ),
          response: responses({ 200: RequestCeremony }),
        },
        ...rateLimited(deps.limits, starts),
      },
      async (request, reply) => {
        const { mfaToken } = request.body
        let ceremony: Awaited<ReturnType<typeof passkeyFactorOptions>>
        if (mfaToken !== undefined) {
          const token = await pendingSignIn(deps, mfaToken)
          ceremony = await passkeyFactorOptions(deps, token.userId, { purpose: 'mfa', mfaTokenId: token.id })
        } else {
          if (request.headers.authorization === undefined) {
            throw new TesseraError('TOKEN_MISSING', {
              detail: 'Send the mfaToken of the sign-in, or an access token to step up.',
            })
          }
          const { user } = await authenticate(deps, bearerToken(request))
          ceremony = await passkeyFactorOptions(deps, user.id, { purpose: 'step-up' })
        }
        return reply.header('cache-control', 'no-store').send(ceremony)
      },
    )
  }
