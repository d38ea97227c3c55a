import * as oidc from 'openid-client'
import type { Clock } from '../../clock.js'
import type { OAuthProviderConfig } from '../../config.js'
import { TesseraError } from '../../errors.js'
import type { ProviderMetrics } from '../../metrics.js'
import { signedClientSecret } from './signed-client-secret.js'

/** Seconds a discovered provider document is used before it is fetched again (keys and endpoints rotate). */
export const DISCOVERY_TTL = 3600
/** Seconds a failed refresh keeps serving the last good document before the provider is asked again. */
export const DISCOVERY_RETRY = 60
/** Seconds Tessera waits for a provider's answer. */
export const PROVIDER_TIMEOUT = 10

/** The configured providers, and each one's discovered OpenID configuration. */
export interface ProviderDirectory {
  /** Every provider, in the order of TESSERA_OAUTH_PROVIDERS. */
  list(): readonly OAuthProviderConfig[]
  /** The provider with this id, or NOT_FOUND. */
  get(id: string): OAuthProviderConfig
  /**
   * The provider's configuration for openid-client: discovered (cached for {@link DISCOVERY_TTL};
   * a failed refresh keeps the last good one), or GitHub's fixed endpoints. PROVIDER_UNAVAILABLE
   * when there is none to be had.
   */
  discover(provider: OAuthProviderConfig): Promise<oidc.Configuration>
  /** Counts a sign-in's start or end (`tessera_provider_sign_ins_total`). */
  countSignIn(provider: OAuthProviderConfig, outcome: string): void
  /** Seals the state cookies of started sign-ins (derived from TESSERA_SECRET for this use only). */
  readonly stateKey: Uint8Array
}

interface Cached {
  /** The last document that was fetched and parsed. */
  configuration: oidc.Configuration
  /** Unix milliseconds from which it is fetched again. */
  refreshAt: number
}

export function createProviderDirectory(
  providers: readonly OAuthProviderConfig[],
  { clock, stateKey, metrics }: { clock: Clock; stateKey: Uint8Array; metrics?: ProviderMetrics | undefined },
): ProviderDirectory {
  const byId = new Map(providers.map((provider) => [provider.id, provider]))
  const cache = new Map<string, Cached>()
  const refreshing = new Map<string, Promise<oidc.Configuration>>()
  const clientAuths = new Map(providers.map((provider) => [provider.id, clientAuth(provider, clock)]))

  /** fetch, timed and counted per provider and endpoint; the endpoint is named from the URL asked. */
  const timedFetch =
    (provider: OAuthProviderConfig, endpoints: () => Readonly<Record<string, string>>): oidc.CustomFetch =>
    async (url, options) => {
      const endpoint = endpointName(url, endpoints())
      const started = performance.now()
      const seconds = () => (performance.now() - started) / 1000
      try {
        const response = await fetch(url, options as RequestInit)
        metrics?.providerRequest(
          { provider: provider.id, endpoint, failed: response.status >= 500 },
          seconds(),
        )
        return response
      } catch (error) {
        metrics?.providerRequest({ provider: provider.id, endpoint, failed: true }, seconds())
        throw error
      }
    }

  const configure = (
    provider: OAuthProviderConfig,
    configuration: oidc.Configuration,
  ): oidc.Configuration => {
    configuration.timeout = PROVIDER_TIMEOUT
    // plain http only for a loopback issuer outside production (config refuses it elsewhere)
    if (provider.insecureLoopback) oidc.allowInsecureRequests(configuration)
    configuration[oidc.customFetch] = timedFetch(provider, () => knownEndpoints(provider, configuration))
    return configuration
  }

  const fetchConfiguration = async (provider: OAuthProviderConfig): Promise<oidc.Configuration> => {
    try {
      const configuration = await oidc.discovery(
        new URL(provider.issuer),
        provider.clientId,
        undefined,
        clientAuths.get(provider.id),
        {
          timeout: PROVIDER_TIMEOUT,
          [oidc.customFetch]: timedFetch(provider, () => ({})),
          ...(provider.insecureLoopback ? { execute: [oidc.allowInsecureRequests] } : {}),
        },
      )
      // the ID token's signature is checked against the provider's JWKS too, not only its claims:
      // openid-client otherwise trusts the TLS channel of the token endpoint (OpenID Core 3.1.3.7)
      oidc.enableNonRepudiationChecks(configuration)
      return configure(provider, configuration)
    } catch (error) {
      throw new TesseraError('PROVIDER_UNAVAILABLE', { cause: error })
    }
  }

  // GitHub publishes no discovery document: its endpoints are fixed under the base URL
  const githubConfigurations = new Map(
    providers
      .filter((provider) => provider.protocol === 'github')
      .map((provider) => [
        provider.id,
        configure(
          provider,
          new oidc.Configuration(
            {
              issuer: provider.issuer,
              authorization_endpoint: `${provider.issuer}/login/oauth/authorize`,
              token_endpoint: `${provider.issuer}/login/oauth/access_token`,
            },
            provider.clientId,
            undefined,
            clientAuths.get(provider.id),
          ),
        ),
      ]),
  )

  return {
    stateKey,
    list: () => providers,
    get(id) {
      const provider = byId.get(id)
      if (!provider) throw new TesseraError('NOT_FOUND')
      return provider
    },
    async discover(provider) {
      const fixed = githubConfigurations.get(provider.id)
      if (fixed) return fixed
      const cached = cache.get(provider.id)
      if (cached && clock.now().getTime() < cached.refreshAt) return cached.configuration
      // parallel sign-ins share one fetch
      const pending = refreshing.get(provider.id)
      if (pending) return pending
      const refresh = fetchConfiguration(provider).then(
        (configuration) => {
          cache.set(provider.id, { configuration, refreshAt: clock.now().getTime() + DISCOVERY_TTL * 1000 })
          return configuration
        },
        (error: unknown) => {
          // down at refresh time: the last good document serves a while longer; with none, the
          // sign-in fails and the next one asks the provider again
          if (!cached) throw error
          cache.set(provider.id, {
            configuration: cached.configuration,
            refreshAt: clock.now().getTime() + DISCOVERY_RETRY * 1000,
          })
          return cached.configuration
        },
      )
      refreshing.set(provider.id, refresh)
      try {
        return await refresh
      } finally {
        refreshing.delete(provider.id)
      }
    },
    countSignIn: (provider, outcome) => metrics?.providerSignIn(provider.id, outcome),
  }
}

/** How Tessera authenticates at the token endpoint: the client secret, or Apple's signed one. */
function clientAuth(provider: OAuthProviderConfig, clock: Clock): oidc.ClientAuth {
  if (provider.signedSecret !== null) {
    const secret = signedClientSecret(provider.signedSecret, provider.clientId, clock)
    // openid-client awaits the method; its type says void, which a promise of void satisfies
    return async (_server, client, body) => {
      body.set('client_id', client.client_id)
      body.set('client_secret', await secret())
    }
  }
  return provider.tokenAuth === 'client_secret_post'
    ? oidc.ClientSecretPost(provider.clientSecret)
    : oidc.ClientSecretBasic(provider.clientSecret)
}

/** The provider's endpoints by the name its metrics carry. */
function knownEndpoints(
  provider: OAuthProviderConfig,
  configuration: oidc.Configuration,
): Record<string, string> {
  const metadata = configuration.serverMetadata()
  const named: Record<string, string | undefined> = {
    token: metadata.token_endpoint,
    jwks: metadata.jwks_uri,
    userinfo: metadata.userinfo_endpoint,
    ...(provider.apiUrl === null
      ? {}
      : { user: `${provider.apiUrl}/user`, emails: `${provider.apiUrl}/user/emails` }),
  }
  return Object.fromEntries(
    Object.entries(named).filter((entry): entry is [string, string] => entry[1] !== undefined),
  )
}

function endpointName(url: string, endpoints: Readonly<Record<string, string>>): string {
  const bare = url.split('?')[0] ?? url
  if (bare.endsWith('/.well-known/openid-configuration')) return 'discovery'
  for (const [name, endpoint] of Object.entries(endpoints)) if (endpoint === bare) return name
  return 'other'
}
