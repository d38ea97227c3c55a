import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server'
import type { Registered, TestServer } from '../helpers/server.js'
import { json } from '../helpers/server.js'
import { post } from '../mfa/mfa-helpers.js'
import {
  type SoftAuthenticator,
  type SoftAuthenticatorOptions,
  softAuthenticator,
} from './soft-authenticator.js'

export interface Creation {
  challengeId: string
  options: PublicKeyCredentialCreationOptionsJSON
}

export interface Request {
  challengeId: string
  options: PublicKeyCredentialRequestOptionsJSON
}

/** POST /auth/passkeys/register/options for the user; throws unless 200. */
export async function registrationOptions(server: TestServer, accessToken: string): Promise<Creation> {
  const response = await post(server, '/auth/passkeys/register/options', {}, accessToken)
  if (response.statusCode !== 200) throw new Error(`options: ${response.statusCode} ${response.body}`)
  return json<Creation>(response)
}

/** Registers a new software passkey for a (verified, recently signed-in) user. */
export async function addPasskey(
  server: TestServer,
  user: Pick<Registered, 'accessToken'>,
  options: SoftAuthenticatorOptions & { name?: string } = {},
): Promise<{ authenticator: SoftAuthenticator; id: string }> {
  const authenticator = softAuthenticator(options)
  const creation = await registrationOptions(server, user.accessToken)
  const response = await post(
    server,
    '/auth/passkeys/register/verify',
    {
      challengeId: creation.challengeId,
      response: authenticator.register(creation.options),
      ...(options.name ? { name: options.name } : {}),
    },
    user.accessToken,
  )
  if (response.statusCode !== 201) throw new Error(`register: ${response.statusCode} ${response.body}`)
  return { authenticator, id: json<{ passkey: { id: string } }>(response).passkey.id }
}

/** POST /auth/passkeys/login/options. */
export async function loginOptions(server: TestServer): Promise<Request> {
  const response = await post(server, '/auth/passkeys/login/options', {})
  if (response.statusCode !== 200) throw new Error(`login options: ${response.statusCode} ${response.body}`)
  return json<Request>(response)
}

/** POST /auth/mfa/passkey/options with an mfaToken, or a bearer token for a step-up. */
export async function factorOptions(
  server: TestServer,
  by: { mfaToken: string } | { accessToken: string },
): Promise<Request> {
  const response =
    'mfaToken' in by
      ? await post(server, '/auth/mfa/passkey/options', { mfaToken: by.mfaToken })
      : await post(server, '/auth/mfa/passkey/options', {}, by.accessToken)
  if (response.statusCode !== 200) throw new Error(`factor options: ${response.statusCode} ${response.body}`)
  return json<Request>(response)
}

/** Signs in with the passkey alone (body delivery). */
export async function passkeyLogin(server: TestServer, authenticator: SoftAuthenticator) {
  const request = await loginOptions(server)
  return post(server, '/auth/passkeys/login/verify', {
    challengeId: request.challengeId,
    response: authenticator.authenticate(request.options),
    tokenDelivery: 'body',
  })
}
