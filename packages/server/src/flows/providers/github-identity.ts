import * as oidc from 'openid-client'
import type { OAuthProviderConfig } from '../../config.js'
import { TesseraError } from '../../errors.js'
import { type ProviderClaims, providerEmail, providerName } from './provider-account.js'

/** The largest answer read from GitHub's API (its user and emails answers are a few KiB). */
const MAX_ANSWER = 256 * 1024

/**
 * The identity behind a GitHub access token, from its REST API: the numeric user id (as a string:
 * logins can be renamed and reused, ids cannot) from `/user`, and the primary address from
 * `/user/emails`, verified only where GitHub marks it `verified` (the `user:email` scope).
 */
export async function githubClaims(
  configuration: oidc.Configuration,
  provider: OAuthProviderConfig,
  accessToken: string,
): Promise<ProviderClaims> {
  const user = await githubApi(configuration, provider, accessToken, '/user')
  if (!isRecord(user) || typeof user.id !== 'number' || !Number.isSafeInteger(user.id)) {
    throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: 'github_user_malformed' })
  }
  const emails = await githubApi(configuration, provider, accessToken, '/user/emails')
  if (!Array.isArray(emails)) {
    throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: 'github_emails_malformed' })
  }
  const primary = emails.find(
    (entry): entry is Record<string, unknown> => isRecord(entry) && entry.primary === true,
  )
  const email = providerEmail(primary?.email)
  return {
    issuer: provider.issuer,
    subject: String(user.id),
    email,
    emailVerified: email !== null && primary?.verified === true,
    name: providerName(user.name) ?? providerName(user.login),
  }
}

/** A GET of GitHub's API: JSON, or PROVIDER_UNAVAILABLE (no answer, 5xx) / PROVIDER_SIGN_IN_FAILED (refused). */
async function githubApi(
  configuration: oidc.Configuration,
  provider: OAuthProviderConfig,
  accessToken: string,
  path: string,
): Promise<unknown> {
  let response: Response
  try {
    response = await oidc.fetchProtectedResource(
      configuration,
      accessToken,
      new URL(`${provider.apiUrl}${path}`),
      'GET',
      null,
      new Headers({ accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' }),
    )
  } catch (error) {
    // a 401 with its challenge: the token was refused
    if (error instanceof oidc.WWWAuthenticateChallengeError) {
      throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: `github_${path}_refused`, cause: error })
    }
    throw new TesseraError('PROVIDER_UNAVAILABLE', { cause: error })
  }
  if (response.status >= 500) {
    await response.body?.cancel()
    throw new TesseraError('PROVIDER_UNAVAILABLE', { reason: `github_${path}_${response.status}` })
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: `github_${path}_${response.status}` })
  }
  let text: string
  try {
    text = await response.text()
  } catch (error) {
    throw new TesseraError('PROVIDER_UNAVAILABLE', { cause: error })
  }
  if (text.length > MAX_ANSWER) {
    throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: `github_${path}_too_large` })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new TesseraError('PROVIDER_SIGN_IN_FAILED', { reason: `github_${path}_malformed`, cause: error })
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
