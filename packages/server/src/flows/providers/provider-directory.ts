import * as oidc from 'openid-client'
import type { Clock } from '../../clock.js'
import type { OAuthProviderConfig } from '../../config.js'
import { TesseraError } from '../../errors.js'

/** Seconds a discovered provider document is used before it is fetched again (keys and endpoints rotate). */
const DISCOVERY_TTL = 3600
/** Seconds Tessera waits for a provider's answer. */
const PROVIDER_TIMEOUT = 10

/** The configured providers, and each one's discovered OpenID configuration. */
export interface ProviderDirectory {
  /** Every provider, in the order of TESSERA_OAUTH_PROVIDERS. */
  list(): readonly OAuthProviderConfig[]
  /** The provider with this id, or NOT_FOUND. */
  get(id: string): OAuthProviderConfig
  /** The provider's discovered configuration (cached); PROVIDER_UNAVAILABLE when it cannot be had. */
  discover(provider: OAuthProviderConfig): Promise<oidc.Configuration>
  /** Seals the state cookies of started sign-ins (derived from TESSERA_SECRET for this use only). */
  readonly stateKey: Uint8Array
}

export function createProviderDirectory(
  providers: readonly OAuthProviderConfig[],
  { clock, stateKey }: { clock: Clock; stateKey: Uint8Array },
): ProviderDirectory {
  const byId = new Map(providers.map((provider) => [provider.id, provider]))
  const cache = new Map<string, { configuration: Promise<oidc.Configuration>; fetchedAt: number }>()

  const fetchConfiguration = async (provider: OAuthProviderConfig): Promise<oidc.Configuration> => {
    const auth =
      provider.tokenAuth === 'client_secret_post'
        ? oidc.ClientSecretPost(provider.clientSecret)
        : oidc.ClientSecretBasic(provider.clientSecret)
    try {
      const configuration = await oidc.discovery(
        new URL(provider.issuer),
        provider.clientId,
        undefined,
        auth,
        // plain http only for a loopback issuer outside production (config refuses it elsewhere)
        provider.insecureLoopback ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      configuration.timeout = PROVIDER_TIMEOUT
      return configuration
    } catch (error) {
      throw new TesseraError('PROVIDER_UNAVAILABLE', { cause: error })
    }
  }

  return {
    stateKey,
    list: () => providers,
    get(id) {
      const provider = byId.get(id)
      if (!provider) throw new TesseraError('NOT_FOUND')
      return provider
    },
    async discover(provider) {
      const now = clock.now().getTime()
      const cached = cache.get(provider.id)
      if (cached && now - cached.fetchedAt < DISCOVERY_TTL * 1000) return cached.configuration
      const configuration = fetchConfiguration(provider)
      cache.set(provider.id, { configuration, fetchedAt: now })
      // a failure is not kept: the next sign-in asks the provider again
      configuration.catch(() => {
        if (cache.get(provider.id)?.configuration === configuration) cache.delete(provider.id)
      })
      return configuration
    },
  }
}
