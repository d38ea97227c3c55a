import { TOKEN_ERROR_CODES, TokenError } from 'fast-jwt'
import {
  type CompactJWSHeaderParameters,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type JWTVerifyGetKey,
  errors as joseErrors,
  type ProtectedHeaderParameters,
} from 'jose'
import { type AccessClaims, toAccessClaims } from './claims.js'
import { TesseraAuthError } from './errors.js'
import { claimsCopier } from './lib/claims-copy.js'
import { discoverJwksUrl, IssuerMismatchError } from './lib/discovery.js'
import { createHeaderReader } from './lib/protected-header.js'
import { checkTimes } from './lib/time-claims.js'
import { createTokenCache, type TokenCacheStats } from './lib/token-cache.js'
import { createTokenCheck } from './lib/token-check.js'
import {
  type Algorithm,
  resolveVerifierOptions,
  type VerifierConfig,
  type VerifierOptions,
} from './verifier-options.js'

export type { TokenCacheStats } from './lib/token-cache.js'

/** Checks Tessera access tokens. Build one per issuer and share it: it holds the key and token caches. */
export interface Verifier {
  /**
   * Resolves to the token's claims when it is genuine and current; otherwise rejects with a
   * {@link TesseraAuthError}: `TOKEN_EXPIRED` for a genuine token past `exp`, `TOKEN_INVALID` for
   * anything else (signature, alg, typ, iss, aud, nbf, kid, format, revoked, keys out of reach).
   * Each call gets its own copy of the claims.
   */
  verify(token: string): Promise<AccessClaims>
  /** Counters of the verified-token cache (`cacheSize`), e.g. to log the hit rate. */
  cacheStats(): TokenCacheStats
}

// header members that would let a token bring its own key or make us fetch one (RFC 8725 §3.10)
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const

// what a JWKS lookup throws when the token, not the key set, is at fault
const TOKEN_FAULTS = [
  joseErrors.JWKSNoMatchingKey,
  joseErrors.JWKSMultipleMatchingKeys,
  joseErrors.JOSENotSupported,
]

/** Any other failure of a remote key lookup means the keys were out of reach: mark it for logs. */
const guardRemote =
  (resolve: JWTVerifyGetKey): JWTVerifyGetKey =>
  async (header, token) => {
    try {
      return await resolve(header, token)
    } catch (error) {
      if (TOKEN_FAULTS.some((fault) => error instanceof fault)) throw error
      throw new TesseraAuthError('TOKEN_INVALID', { cause: error, keysUnavailable: true })
    }
  }

function remoteJwks(url: URL, config: VerifierConfig): JWTVerifyGetKey {
  return createRemoteJWKSet(url, {
    // jose keeps the set for cacheMaxAge and re-fetches for an unknown kid at most once per
    // cooldown, so a stream of forged kids costs the server one request per cooldown, not one each
    cooldownDuration: config.cooldownMs,
    cacheMaxAge: config.cacheMaxAgeMs,
    timeoutDuration: config.timeoutMs,
    ...(config.fetch ? { [customFetch]: config.fetch } : {}),
  })
}

/** Finds the JWKS through discovery on first use, then behaves as a remote set; a failure is retried next time. */
function discoveredJwks(discoveryUrl: URL, config: VerifierConfig): JWTVerifyGetKey {
  let pending: Promise<JWTVerifyGetKey> | undefined
  let warned = false
  return async (header, token) => {
    pending ??= discoverJwksUrl(discoveryUrl, config.issuer, config.fetch ?? fetch, config.timeoutMs).then(
      (url) => remoteJwks(url, config),
      (error: unknown) => {
        pending = undefined
        // a wrong issuer would otherwise show only as every token refused, with nothing saying why
        if (error instanceof IssuerMismatchError && !warned && config.logger) {
          warned = true
          config.logger.warn(`@tessera/middleware: ${error.message}`)
        }
        throw error
      },
    )
    const jwks = await pending
    return jwks(header, token)
  }
}

function keyFor(config: VerifierConfig): JWTVerifyGetKey | Uint8Array {
  const source = config.keySource
  switch (source.kind) {
    case 'secret':
      return source.key
    case 'local':
      try {
        return createLocalJWKSet(source.jwks)
      } catch (cause) {
        throw new TypeError('@tessera/middleware: jwks is not a valid JSON Web Key Set', { cause })
      }
    case 'remote':
      return guardRemote(remoteJwks(source.url, config))
    case 'discovery':
      return guardRemote(discoveredJwks(source.url, config))
  }
}

/** The key for a token: jose's key set looks it up by `kid` and `alg` (fetching it when needed). */
type KeyResolver = (header: Readonly<CompactJWSHeaderParameters>, token: string) => Promise<unknown>

function resolverFor(config: VerifierConfig): KeyResolver {
  const key = keyFor(config)
  if (typeof key !== 'function') return async () => key
  return async (header, token) => {
    const [encodedHeader, payload = '', signature = ''] = token.split('.')
    return key(header, { protected: encodedHeader, payload, signature })
  }
}

/**
 * Builds a verifier for access tokens of one Tessera server. Options are checked now: a bad one
 * throws a `TypeError` at once. Nothing is fetched until the first `verify`.
 *
 * Every token must be a JWS with `typ: at+jwt`, an `alg` from the allow-list (never `none`, never
 * HS256 unless a `secret` is configured), no `jwk`/`jku`/`x5u`/`x5c` header, a valid signature by a
 * key of the set, `iss` equal to `issuer`, an `aud` from `audience`, the required claims, and
 * `exp`/`nbf` within `clockTolerance` (default 0 s).
 *
 * jose manages the keys (discovery, JWKS fetching, the unknown-`kid` cooldown); fast-jwt checks
 * each token with them. A token that passed every check is remembered (`cacheSize` entries): seen
 * again, only its `exp`/`nbf` and `isRevoked` are checked, until `jwksCacheMaxAge` has passed.
 *
 * @example
 * const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'tessera' })
 * const claims = await verifier.verify(token) // { sub, roles, email, ... }
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const config = resolveVerifierOptions(options)
  const readHeader = createHeaderReader()
  const resolveKey = resolverFor(config)
  const check = createTokenCheck(config)
  const cache = createTokenCache(config.cacheSize)
  const tolerance = config.clockTolerance
  const currentMs = (): number => (config.clock ? config.clock.now().getTime() : Date.now())
  const invalid = (cause?: unknown) => new TesseraAuthError('TOKEN_INVALID', { cause })
  const allowed = (
    header: Readonly<ProtectedHeaderParameters>,
  ): header is Readonly<CompactJWSHeaderParameters & { alg: Algorithm }> =>
    typeof header.alg === 'string' && (config.algorithms as readonly string[]).includes(header.alg)

  /** Every check but isRevoked, for a token the cache cannot vouch for. */
  async function verifyInFull(token: string, nowMs: number): Promise<AccessClaims> {
    let header: Readonly<ProtectedHeaderParameters>
    try {
      header = readHeader(token)
    } catch (cause) {
      throw invalid(cause)
    }
    if (FORBIDDEN_HEADERS.some((name) => name in header)) throw invalid()
    // before the key lookup, as jose does: a refused alg never makes us fetch keys
    if (!allowed(header)) {
      throw invalid(new TokenError(TOKEN_ERROR_CODES.invalidAlgorithm, 'The token algorithm is not allowed.'))
    }

    let payload: Record<string, unknown>
    try {
      payload = check(token, header.alg, await resolveKey(header, token))
    } catch (error) {
      if (error instanceof TesseraAuthError) throw error
      throw invalid(error)
    }
    // after the signature and the other claims: TOKEN_EXPIRED is only said of a genuine token
    checkTimes(payload, nowMs, tolerance)
    const claims = toAccessClaims(payload)
    if (!claims) throw invalid()
    return claims
  }

  /** The claims of a remembered token, checked against the clock; undefined when none is remembered. */
  function remembered(token: string, nowMs: number): AccessClaims | undefined {
    const cached = cache.get(token, nowMs)
    if (cached === undefined) return undefined
    try {
      checkTimes(cached, nowMs, tolerance)
    } catch (error) {
      cache.delete(token)
      throw error
    }
    // copied per call: no request sees what another one's handler did to its claims
    return cached.claims()
  }

  return {
    async verify(token) {
      if (typeof token !== 'string' || token === '') throw new TesseraAuthError('TOKEN_MISSING')
      const nowMs = currentMs()
      const hit = remembered(token, nowMs)
      const claims = hit ?? (await verifyInFull(token, nowMs))
      // asked on every request, cache hits included
      if (config.isRevoked && (await config.isRevoked(claims))) {
        cache.delete(token)
        throw invalid()
      }
      // only a token that passed every check is remembered: a failure costs a full check each time
      if (hit === undefined && cache.enabled) {
        cache.set(token, {
          claims: claimsCopier(claims),
          exp: claims.exp,
          nbf: claims.nbf,
          // checked in full again after jwksCacheMaxAge, like the key set: a key taken out of the
          // set stops vouching for cached tokens too
          reverifyAt: nowMs + config.cacheMaxAgeMs,
        })
      }
      return claims
    },
    cacheStats: () => cache.stats(),
  }
}
