import type { JSONWebKeySet } from 'jose'
import type { AccessClaims } from './claims.js'

/** The algorithms Tessera signs with; a verifier accepts a subset of them, never `none`. */
export const ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'HS256'] as const
export type Algorithm = (typeof ALGORITHMS)[number]

/** The asymmetric algorithms accepted by default with a JWKS (remote or local). */
export const ASYMMETRIC_ALGORITHMS: readonly Algorithm[] = ['RS256', 'ES256', 'EdDSA']

/** Claims a token must carry; `requiredClaims` adds to them, never removes. */
export const DEFAULT_REQUIRED_CLAIMS: readonly string[] = ['iss', 'aud', 'sub', 'exp', 'iat']

/** The largest clock leeway accepted, in seconds. */
export const MAX_CLOCK_TOLERANCE = 5

/** The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash size). */
export const MIN_SECRET_BYTES = 32

/** How many verified tokens a verifier remembers unless `cacheSize` says otherwise. */
export const DEFAULT_CACHE_SIZE = 10_000

/** How many revocation entries a verifier holds unless `revocations.maxEntries` says otherwise. */
export const DEFAULT_MAX_REVOCATION_ENTRIES = 100_000

/** What `verify` does while the revocation feed is not live; see {@link RevocationFeedOptions.onFeedLost}. */
export const FEED_LOST_POLICIES = ['accept', 'reject'] as const
export type FeedLostPolicy = (typeof FEED_LOST_POLICIES)[number]

/** The states of a revocation feed; see {@link RevocationFeedStatus}. */
export type RevocationFeedState = 'connecting' | 'live' | 'lost' | 'closed'

/** A snapshot of a verifier's revocation feed, from `verifier.revocationFeed()` and `onStateChange`. */
export interface RevocationFeedStatus {
  /**
   * `connecting`: not connected yet since the verifier was built; `live`: connected, events flow;
   * `lost`: the connection failed or dropped and is being retried; `closed`: `verifier.close()`
   * was called.
   */
  readonly state: RevocationFeedState
  /** The `id` of the last event applied, sent as `Last-Event-ID` on reconnect; undefined before the first. */
  readonly lastEventId: string | undefined
  /** When the feed was lost (verifier clock); undefined unless `state` is `lost`. */
  readonly lostSince: Date | undefined
  /** Revoked sessions plus per-user not-before times held now (at most `maxEntries`). */
  readonly entries: number
  /** Why the last connection attempt failed, for logs (e.g. `401 from .../auth/revocations`). */
  readonly lastError: string | undefined
}

/**
 * Options of the revocation feed (`revocations` of {@link VerifierOptions}): the verifier subscribes
 * to the Tessera server's Server-Sent Events feed of revoked sessions and stale users and refuses
 * those tokens as `TOKEN_REVOKED`, without asking the server on each request.
 */
export interface RevocationFeedOptions {
  /** The id of a service client with the `revocations:read` scope (`tessera clients create`), `svc_…`. Required. */
  clientId: string
  /** That client's secret. Sent as HTTP Basic credentials to the feed only. Required. */
  clientSecret: string
  /**
   * The feed's URL. Default: `tessera_revocation_events_endpoint` of the discovery document when
   * the verifier discovers its keys (no `jwksUrl`, `jwks` or `secret`), else `${issuer}/auth/revocations`.
   */
  url?: string | URL
  /**
   * What `verify` does while the feed is not live (before the first connection, and from a lost
   * connection until it is back): `'accept'` (default) keeps accepting tokens that pass every
   * other check, so an auth-server outage does not take this service down (revocations made
   * meanwhile apply once the feed is back, from `Last-Event-ID`); `'reject'` refuses every token
   * with 503 `SERVICE_UNAVAILABLE` and a `Retry-After`, for services that would rather fail closed.
   */
  onFeedLost?: FeedLostPolicy
  /**
   * The most revoked sessions plus per-user not-before times held, in entries (about 150 bytes
   * each). When full, the entry that expires soonest is dropped to make room. Default `100000`.
   */
  maxEntries?: number
  /**
   * Seconds before the first reconnection attempt after a failure; it doubles on each failure in a
   * row, up to `maxReconnectDelay`. A `retry:` field from the server replaces it (capped likewise).
   * Default `1`.
   */
  reconnectDelay?: number
  /** Seconds, the longest wait between attempts; also the wait after a 401/403 (bad credentials). Default `30`. */
  maxReconnectDelay?: number
  /**
   * Seconds without a byte (an event or a `: ping`, which the server sends at least every 15 s)
   * after which the connection counts as dead and is replaced. Default `45` (three missed pings).
   */
  idleTimeout?: number
  /** Called with a snapshot at each change of `state` (a change of `lastEventId` alone is not one). */
  onStateChange?: (status: RevocationFeedStatus) => void
}

/** The `fetch` the verifier calls for discovery and the JWKS; `globalThis.fetch` fits. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>

/** Options of {@link createVerifier}. Checked once when the factory runs; a bad value throws a `TypeError`. */
export interface VerifierOptions {
  /**
   * The Tessera server's public URL, exactly as it writes it in `iss` (its TESSERA_PUBLIC_URL),
   * e.g. `https://auth.example.com` or `https://example.com/auth`. An absolute http(s) URL without
   * a trailing slash, query or fragment. Required.
   */
  issuer: string
  /**
   * The expected `aud`: the server's TESSERA_AUDIENCE (Tessera's default is `tessera`). With a
   * list, a token whose `aud` holds any one of them is accepted. Required.
   */
  audience: string | readonly string[]
  /**
   * Where the public keys are (e.g. `https://auth.example.com/.well-known/jwks.json`). Default: the
   * `jwks_uri` of `${issuer}/.well-known/openid-configuration`, fetched on the first `verify` and
   * kept. At most one of `jwksUrl`, `jwks` and `secret`.
   */
  jwksUrl?: string | URL
  /** A local JSON Web Key Set (public keys only) instead of fetching one. Never re-read. */
  jwks?: JSONWebKeySet
  /**
   * The shared HS256 secret (the server's TESSERA_HS256_SECRET), at least 32 bytes (UTF-8 for a
   * string). Only for a server configured with TESSERA_SIGNING_ALG=HS256; implies `['HS256']`.
   */
  secret?: string | Uint8Array
  /**
   * The accepted `alg` values. Default `['RS256', 'ES256', 'EdDSA']` with a JWKS, `['HS256']` with
   * a `secret`. `none` is never accepted, and HS256 never together with an asymmetric algorithm.
   */
  algorithms?: readonly Algorithm[]
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. Default `0`; at most `5`. */
  clockTolerance?: number
  /**
   * Claims that must be present, added to `['iss', 'aud', 'sub', 'exp', 'iat']` (which always
   * apply), e.g. `['sid', 'jti']`.
   */
  requiredClaims?: readonly string[]
  /**
   * Seconds after a JWKS fetch during which a token with an unknown `kid` does not cause another
   * fetch, so forged kids cannot make the verifier hammer the server. A key rotated in by hand is
   * therefore accepted at most this long after the last fetch. Default `30`.
   */
  jwksCooldown?: number
  /**
   * Seconds the fetched JWKS is used before it is fetched again on the next `verify`; also how
   * long a cached token is accepted before it is checked in full again. Default `600`.
   */
  jwksCacheMaxAge?: number
  /** Seconds to wait for the discovery document or the JWKS before failing. Default `5`. */
  timeout?: number
  /**
   * The `fetch` used for discovery, the JWKS and the revocation feed (a proxy agent, a test
   * double). Default `globalThis.fetch`.
   */
  fetch?: FetchLike
  /**
   * Called with the claims of every token that passed all other checks; `true` (or a promise of
   * it) rejects the token as `TOKEN_INVALID`, e.g. a `jti` or `sid` on your deny-list. If it throws,
   * `verify` rejects with that error unchanged (fail closed, as a server error, not a client's).
   */
  isRevoked?: (claims: AccessClaims) => boolean | Promise<boolean>
  /** The current time, for `exp`, `nbf`, `iat` and the revocation entries' `until`. Default the system clock. */
  clock?: { now(): Date }
  /**
   * Where the verifier reports what an operator must know: once, a discovery document that names
   * another issuer than `issuer` (every token is refused until fixed); with `revocations`, the
   * feed lost (once per outage), back, and refused credentials (401/403). Default `console` (its
   * `warn`); `false` for silence.
   */
  logger?: { warn(message: string): void } | false
  /**
   * How many verified tokens to remember, in entries, so that a token seen again skips the
   * signature check. The key is the exact token string; a hit is still checked against the clock
   * (`exp`, `nbf`) and `isRevoked`, and is verified in full again once `jwksCacheMaxAge` has passed
   * since its last full check. Failures are never remembered. The oldest entry makes room for a
   * new one (first in, first out). Memory: about 1.4 KB an entry (the token and its claims).
   * Default `10000`; `0` turns the cache off.
   */
  cacheSize?: number
  /**
   * Follow the server's revocation feed (`GET /auth/revocations`): a token whose session was
   * revoked, or issued to its `sub` before a change of roles, email or status, is refused as
   * `TOKEN_REVOKED` within about a second, cache hits included. See {@link RevocationFeedOptions}.
   * The verifier connects when it is built; `verifier.close()` stops it. Default: off (a token
   * stays valid until `exp`).
   */
  revocations?: RevocationFeedOptions
}

/** Where the verification keys come from, after validation. */
export type KeySource =
  | { kind: 'remote'; url: URL }
  | { kind: 'discovery'; url: URL }
  | { kind: 'local'; jwks: JSONWebKeySet }
  | { kind: 'secret'; key: Uint8Array }

/** {@link VerifierOptions} checked and completed with defaults; durations in milliseconds. */
export interface VerifierConfig {
  readonly issuer: string
  readonly audience: readonly string[]
  readonly keySource: KeySource
  readonly algorithms: readonly Algorithm[]
  readonly clockTolerance: number
  readonly requiredClaims: readonly string[]
  readonly cooldownMs: number
  readonly cacheMaxAgeMs: number
  readonly timeoutMs: number
  readonly fetch: FetchLike | undefined
  readonly isRevoked: VerifierOptions['isRevoked']
  readonly clock: { now(): Date } | undefined
  readonly logger: { warn(message: string): void } | false
  /** Entries of the verified-token cache; 0 when it is off. */
  readonly cacheSize: number
  readonly revocations: RevocationFeedConfig | undefined
}

/** {@link RevocationFeedOptions} checked and completed; durations in milliseconds. */
export interface RevocationFeedConfig {
  /** `Basic base64(urlencode(clientId):urlencode(clientSecret))`, as RFC 6749 §2.3.1 has it. */
  readonly authorization: string
  /** undefined: from discovery, or `${issuer}/auth/revocations`. */
  readonly url: URL | undefined
  readonly onFeedLost: FeedLostPolicy
  readonly maxEntries: number
  readonly reconnectDelayMs: number
  readonly maxReconnectDelayMs: number
  readonly idleTimeoutMs: number
  readonly onStateChange: RevocationFeedOptions['onStateChange']
}

const fail = (message: string): never => {
  throw new TypeError(`@tessera/middleware: ${message}`)
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function httpUrl(name: string, value: unknown): URL {
  let url: URL | undefined
  if (value instanceof URL) url = new URL(value.href)
  else if (typeof value === 'string' && URL.canParse(value)) url = new URL(value)
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    return fail(`${name} must be an absolute http(s) URL, got ${JSON.stringify(String(value))}`)
  }
  return url
}

function checkIssuer(value: unknown): string {
  if (typeof value !== 'string' || value === '') return fail('issuer is required (the server public URL)')
  const url = httpUrl('issuer', value)
  // Tessera's iss has none of these, and iss is compared as a string: a stray slash would reject every token
  if (value.endsWith('/') || url.search !== '' || url.hash !== '' || url.username !== '') {
    return fail(
      `issuer must be the server public URL without a trailing slash, query or fragment, got "${value}"`,
    )
  }
  return value
}

function checkAudience(value: unknown): readonly string[] {
  const list = typeof value === 'string' ? [value] : value
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((aud) => typeof aud === 'string' && aud !== '')
  ) {
    return fail('audience is required: a non-empty string or list of strings (Tessera default: "tessera")')
  }
  return Object.freeze([...list])
}

function checkSeconds(
  name: string,
  value: unknown,
  fallback: number,
  max = Number.POSITIVE_INFINITY,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    return fail(`${name} must be a number of seconds from 0 to ${max}, got ${String(value)}`)
  }
  return value
}

function checkTimeout(value: unknown): number {
  const ms = Math.round(checkSeconds('timeout', value, 5, 60) * 1000)
  // jose aborts at once with 0: every fetch would fail
  if (ms < 1) return fail('timeout must be more than 0 seconds')
  return ms
}

function checkKeySource(options: VerifierOptions, issuer: string): KeySource {
  const given = (['jwksUrl', 'jwks', 'secret'] as const).filter((name) => options[name] !== undefined)
  if (given.length > 1) return fail(`give one key source, not ${given.join(' and ')}`)
  if (options.jwksUrl !== undefined) return { kind: 'remote', url: httpUrl('jwksUrl', options.jwksUrl) }
  if (options.jwks !== undefined) {
    const jwks: unknown = options.jwks
    if (
      !isObject(jwks) ||
      !Array.isArray(jwks.keys) ||
      jwks.keys.length === 0 ||
      !jwks.keys.every(isObject)
    ) {
      return fail('jwks must be a JSON Web Key Set with at least one key: { keys: [...] }')
    }
    if (jwks.keys.some((key) => 'd' in key || 'k' in key)) {
      return fail('jwks must hold public keys only (a key has a private "d" or symmetric "k" member)')
    }
    return { kind: 'local', jwks: structuredClone(options.jwks) }
  }
  if (options.secret !== undefined) {
    const secret: unknown = options.secret
    const key =
      typeof secret === 'string'
        ? new TextEncoder().encode(secret)
        : secret instanceof Uint8Array
          ? new Uint8Array(secret)
          : fail('secret must be a string or a Uint8Array')
    if (key.byteLength < MIN_SECRET_BYTES) {
      return fail(`secret must be at least ${MIN_SECRET_BYTES} bytes, got ${key.byteLength}`)
    }
    return { kind: 'secret', key }
  }
  // no key given: discover the JWKS from the issuer, as OpenID Connect Discovery 1.0 §4 places it
  return { kind: 'discovery', url: new URL(`${issuer}/.well-known/openid-configuration`) }
}

function checkAlgorithms(value: unknown, keySource: KeySource): readonly Algorithm[] {
  const symmetric = keySource.kind === 'secret'
  if (value === undefined) return symmetric ? ['HS256'] : ASYMMETRIC_ALGORITHMS
  if (!Array.isArray(value) || value.length === 0) return fail('algorithms must be a non-empty list')
  for (const alg of value) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none')
      return fail('algorithms must not contain "none"')
    if (!(ALGORITHMS as readonly unknown[]).includes(alg)) {
      return fail(`algorithms: unsupported "${String(alg)}"; use ${ALGORITHMS.join(', ')}`)
    }
  }
  const algs = value as Algorithm[]
  const hs = algs.filter((alg) => alg === 'HS256')
  // one key source per kind: HS256 next to RS256 is how algorithm-confusion attacks start
  if (hs.length > 0 && hs.length < algs.length)
    return fail('algorithms must not mix HS256 with asymmetric ones')
  if (symmetric && hs.length === 0) return fail('a secret verifies HS256 only: algorithms must be ["HS256"]')
  if (!symmetric && hs.length > 0) return fail('HS256 needs the shared secret option, not a JWKS')
  return Object.freeze([...new Set(algs)])
}

function checkRequiredClaims(value: unknown): readonly string[] {
  if (value === undefined) return DEFAULT_REQUIRED_CLAIMS
  if (!Array.isArray(value) || !value.every((claim) => typeof claim === 'string' && claim !== '')) {
    return fail('requiredClaims must be a list of claim names')
  }
  return Object.freeze([...new Set([...DEFAULT_REQUIRED_CLAIMS, ...(value as string[])])])
}

function checkCacheSize(value: unknown): number {
  if (value === undefined) return DEFAULT_CACHE_SIZE
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    return fail(`cacheSize must be a whole number of entries, 0 or more, got ${String(value)}`)
  }
  return value
}

function checkFunction<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') return fail(`${name} must be a function`)
  return value
}

function checkLogger(value: VerifierOptions['logger']): { warn(message: string): void } | false {
  if (value === undefined) return console
  if (value === false) return false
  if (typeof value?.warn !== 'function')
    return fail('logger must be false or an object with a warn(message) method')
  return value
}

function checkRevocations(value: unknown): RevocationFeedConfig | undefined {
  if (value === undefined) return undefined
  if (!isObject(value)) return fail('revocations must be an object: { clientId, clientSecret, ... }')
  const options = value as Partial<RevocationFeedOptions>
  const { clientId, clientSecret } = options
  if (typeof clientId !== 'string' || clientId === '') {
    return fail('revocations.clientId is required: the id of a client with the revocations:read scope')
  }
  if (typeof clientSecret !== 'string' || clientSecret === '') {
    return fail('revocations.clientSecret is required: the secret of revocations.clientId')
  }
  const onFeedLost = options.onFeedLost ?? 'accept'
  if (!(FEED_LOST_POLICIES as readonly unknown[]).includes(onFeedLost)) {
    return fail(`revocations.onFeedLost must be ${FEED_LOST_POLICIES.map((p) => `"${p}"`).join(' or ')}`)
  }
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_REVOCATION_ENTRIES
  if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    return fail(
      `revocations.maxEntries must be a whole number of entries, 1 or more, got ${String(maxEntries)}`,
    )
  }
  const positiveMs = (name: string, seconds: unknown, fallback: number, max: number): number => {
    const ms = Math.round(checkSeconds(`revocations.${name}`, seconds, fallback, max) * 1000)
    if (ms < 1) return fail(`revocations.${name} must be more than 0 seconds`)
    return ms
  }
  const reconnectDelayMs = positiveMs('reconnectDelay', options.reconnectDelay, 1, 3600)
  const maxReconnectDelayMs = positiveMs('maxReconnectDelay', options.maxReconnectDelay, 30, 3600)
  if (maxReconnectDelayMs < reconnectDelayMs) {
    return fail('revocations.maxReconnectDelay must not be less than revocations.reconnectDelay')
  }
  const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`
  return Object.freeze({
    authorization: `Basic ${btoa(credentials)}`,
    url: options.url === undefined ? undefined : httpUrl('revocations.url', options.url),
    onFeedLost,
    maxEntries,
    reconnectDelayMs,
    maxReconnectDelayMs,
    idleTimeoutMs: positiveMs('idleTimeout', options.idleTimeout, 45, 3600),
    onStateChange: checkFunction('revocations.onStateChange', options.onStateChange),
  })
}

/** Checks every option once and fills in the defaults; throws a `TypeError` naming the bad option. */
export function resolveVerifierOptions(options: VerifierOptions): VerifierConfig {
  if (!isObject(options)) return fail('options are required: { issuer, audience, ... }')
  const issuer = checkIssuer(options.issuer)
  const keySource = checkKeySource(options, issuer)
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    fail('clock must be an object with a now(): Date method')
  }
  return Object.freeze({
    issuer,
    audience: checkAudience(options.audience),
    keySource,
    algorithms: checkAlgorithms(options.algorithms, keySource),
    clockTolerance: checkSeconds('clockTolerance', options.clockTolerance, 0, MAX_CLOCK_TOLERANCE),
    requiredClaims: checkRequiredClaims(options.requiredClaims),
    cooldownMs: checkSeconds('jwksCooldown', options.jwksCooldown, 30) * 1000,
    cacheMaxAgeMs: checkSeconds('jwksCacheMaxAge', options.jwksCacheMaxAge, 600) * 1000,
    timeoutMs: checkTimeout(options.timeout),
    fetch: checkFunction('fetch', options.fetch),
    isRevoked: checkFunction('isRevoked', options.isRevoked),
    clock: options.clock,
    logger: checkLogger(options.logger),
    cacheSize: checkCacheSize(options.cacheSize),
    revocations: checkRevocations(options.revocations),
  })
}
