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
import { type Discovered, discover, IssuerMismatchError } from './lib/discovery.js'
import { withImmediateCheck } from './lib/immediate-check.js'
import { createHeaderReader } from './lib/protected-header.js'
import { followRevocationFeed, type RevocationFeed } from './lib/revocation-feed.js'
import { createRevocationList } from './lib/revocation-list.js'
import { checkTimes } from './lib/time-claims.js'
import { createTokenCache, type TokenCacheStats } from './lib/token-cache.js'
import { createTokenCheck } from './lib/token-check.js'
import {
  type Algorithm,
  type RevocationFeedStatus,
  resolveVerifierOptions,
  type VerifierConfig,
  type VerifierOptions,
} from './verifier-options.js'

export type { TokenCacheStats } from './lib/token-cache.js'
export type { RevocationFeedState, RevocationFeedStatus } from './verifier-options.js'

/** Checks Tessera access tokens. Build one per issuer and share it: it holds the key and token caches. */
export interface Verifier {
  /**
   * Resolves to the token's claims when it is genuine and current; otherwise rejects with a
   * {@link TesseraAuthError}: `TOKEN_EXPIRED` for a genuine token past `exp`, `TOKEN_REVOKED` for
   * one the revocation feed revoked, `SERVICE_UNAVAILABLE` while the feed is not live with
   * `onFeedLost: 'reject'`, `TOKEN_INVALID` for anything else (signature, alg, typ, iss, aud, nbf,
   * kid, format, `isRevoked`, keys out of reach). Each call gets its own copy of the claims.
   */
  verify(token: string): Promise<AccessClaims>
  /** Counters of the verified-token cache (`cacheSize`), e.g. to log the hit rate. */
  cacheStats(): TokenCacheStats
  /**
   * The revocation feed's state (`connecting`, `live`, `lost`, `closed`), last event id, when it
   * was lost and the entries held; `undefined` without the `revocations` option. For a readiness
   * probe or a metric.
   */
  revocationFeed(): RevocationFeedStatus | undefined
  /**
   * Stops following the revocation feed (graceful shutdown, tests); resolves once the connection
   * is closed. Tokens are still verified afterwards, without the feed (with `onFeedLost: 'reject'`,
   * refused). Without `revocations`, resolves at once.
   */
  close(): Promise<void>
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

/**
 * Reads the issuer's discovery document on first use and keeps it; a failure is retried next time.
 * Shared by the key lookup and the revocation feed, so the document is fetched once.
 */
function discovery(discoveryUrl: URL, config: VerifierConfig): () => Promise<Discovered> {
  let pending: Promise<Discovered> | undefined
  let warned = false
  return () => {
    pending ??= discover(discoveryUrl, config.issuer, config.fetch ?? fetch, config.timeoutMs).catch(
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
    return pending
  }
}

/** Finds the JWKS through discovery on first use, then behaves as a remote set. */
function discoveredJwks(discovered: () => Promise<Discovered>, config: VerifierConfig): JWTVerifyGetKey {
  let jwks: { uri: URL; resolve: JWTVerifyGetKey } | undefined
  return async (header, token) => {
    const { jwksUri } = await discovered()
    if (jwks?.uri !== jwksUri) jwks = { uri: jwksUri, resolve: remoteJwks(jwksUri, config) }
    return jwks.resolve(header, token)
  }
}

function keyFor(
  config: VerifierConfig,
  discovered: (() => Promise<Discovered>) | undefined,
): JWTVerifyGetKey | Uint8Array {
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
      return guardRemote(discoveredJwks(discovered ?? discovery(source.url, config), config))
  }
}

/** The key for a token: jose's key set looks it up by `kid` and `alg` (fetching it when needed). */
type KeyResolver = (header: Readonly<CompactJWSHeaderParameters>, token: string) => Promise<unknown>

function resolverFor(
  config: VerifierConfig,
  discovered: (() => Promise<Discovered>) | undefined,
): KeyResolver {
  const key = keyFor(config, discovered)
  if (typeof key !== 'function') return async () => key
  return async (header, token) => {
    const [encodedHeader, payload = '', signature = ''] = token.split('.')
    return key(header, { protected: encodedHeader, payload, signature })
  }
}

/** Starts following the revocation feed when `revocations` is set. */
function revocationFeedFor(
  config: VerifierConfig,
  discovered: (() => Promise<Discovered>) | undefined,
  nowMs: () => number,
): RevocationFeed | undefined {
  const options = config.revocations
  if (!options) return undefined
  const fallback = new URL(`${config.issuer}/auth/revocations`)
  return followRevocationFeed({
    config: options,
    url: async () => {
      if (options.url) return options.url
      if (!discovered) return fallback
      return (await discovered()).revocationEventsEndpoint ?? fallback
    },
    fetch: config.fetch ?? fetch,
    list: createRevocationList(options.maxEntries),
    now: () => new Date(nowMs()),
    logger: config.logger,
  })
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
 * again, only its `exp`/`nbf`, `isRevoked` and the revocation feed are checked, until
 * `jwksCacheMaxAge` has passed.
 *
 * With `revocations`, the verifier subscribes to the server's revocation feed at once (and keeps
 * reconnecting); call `close()` to stop it.
 *
 * @example
 * const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'tessera' })
 * const claims = await verifier.verify(token) // { sub, roles, email, ... }
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const config = resolveVerifierOptions(options)
  const readHeader = createHeaderReader()
  const discovered =
    config.keySource.kind === 'discovery' ? discovery(config.keySource.url, config) : undefined
  const resolveKey = resolverFor(config, discovered)
  const check = createTokenCheck(config)
  const cache = createTokenCache(config.cacheSize)
  const tolerance = config.clockTolerance
  const currentMs = (): number => (config.clock ? config.clock.now().getTime() : Date.now())
  const feed = revocationFeedFor(config, discovered, currentMs)
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

  /** After the signature and claims: the revocation feed, then remembering a newly checked token. */
  function accept(token: string, claims: AccessClaims, hit: boolean, nowMs: number): AccessClaims {
    if (feed) {
      try {
        // after every other check: TOKEN_REVOKED is only said of a genuine, current token
        feed.check(claims, Math.floor(nowMs / 1000))
      } catch (error) {
        if (error instanceof TesseraAuthError && error.code === 'TOKEN_REVOKED') cache.delete(token)
        throw error
      }
    }
    // only a token that passed every check is remembered: a failure costs a full check each time
    if (!hit && cache.enabled) {
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
  }

  /** A token the cache could not answer, or any token when isRevoked must be asked. */
  async function checkSlowly(
    token: string,
    hit: AccessClaims | undefined,
    nowMs: number,
  ): Promise<AccessClaims> {
    const claims = hit ?? (await verifyInFull(token, nowMs))
    // asked on every request, cache hits included
    if (config.isRevoked && (await config.isRevoked(claims))) {
      cache.delete(token)
      throw invalid()
    }
    return accept(token, claims, hit !== undefined, nowMs)
  }

  // a cache hit needs nothing asynchronous (unless isRevoked is set): the hooks take its claims
  // without a promise or a turn of the microtask queue
  const checkNow = (token: string): AccessClaims | Promise<AccessClaims> => {
    if (typeof token !== 'string' || token === '') throw new TesseraAuthError('TOKEN_MISSING')
    const nowMs = currentMs()
    const hit = remembered(token, nowMs)
    if (hit !== undefined && !config.isRevoked) return accept(token, hit, true, nowMs)
    return checkSlowly(token, hit, nowMs)
  }

  return withImmediateCheck(
    {
      async verify(token) {
        return checkNow(token)
      },
      cacheStats: () => cache.stats(),
      revocationFeed: () => feed?.status(),
      close: async () => {
        await feed?.close()
      },
    },
    checkNow,
  )
}
