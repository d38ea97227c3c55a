import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose'
import { type AccessClaims, toAccessClaims } from './claims.js'
import { TesseraAuthError } from './errors.js'
import { discoverJwksUrl } from './lib/discovery.js'
import { resolveVerifierOptions, type VerifierConfig, type VerifierOptions } from './verifier-options.js'

/** Checks Tessera access tokens. Build one per issuer and share it: it holds the JWKS cache. */
export interface Verifier {
  /**
   * Resolves to the token's claims when it is genuine and current; otherwise rejects with a
   * {@link TesseraAuthError}: `TOKEN_EXPIRED` for a genuine token past `exp`, `TOKEN_INVALID` for
   * anything else (signature, alg, typ, iss, aud, nbf, kid, format, revoked, keys out of reach).
   */
  verify(token: string): Promise<AccessClaims>
}

/** RFC 9068 access tokens; jose also accepts the `application/at+jwt` spelling. */
const ACCESS_TOKEN_TYP = 'at+jwt'

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
  return async (header, token) => {
    pending ??= discoverJwksUrl(discoveryUrl, config.issuer, config.fetch ?? fetch, config.timeoutMs).then(
      (url) => remoteJwks(url, config),
      (error: unknown) => {
        pending = undefined
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

/**
 * Builds a verifier for access tokens of one Tessera server. Options are checked now: a bad one
 * throws a `TypeError` at once. Nothing is fetched until the first `verify`.
 *
 * Every token must be a JWS with `typ: at+jwt`, an `alg` from the allow-list (never `none`, never
 * HS256 unless a `secret` is configured), no `jwk`/`jku`/`x5u`/`x5c` header, a valid signature by a
 * key of the set, `iss` equal to `issuer`, an `aud` from `audience`, the required claims, and
 * `exp`/`nbf` within `clockTolerance` (default 0 s).
 *
 * @example
 * const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'tessera' })
 * const claims = await verifier.verify(token) // { sub, roles, email, ... }
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const config = resolveVerifierOptions(options)
  const key = keyFor(config)
  const verifyOptions = {
    algorithms: [...config.algorithms],
    issuer: config.issuer,
    audience: [...config.audience],
    typ: ACCESS_TOKEN_TYP,
    clockTolerance: config.clockTolerance,
    requiredClaims: [...config.requiredClaims],
  }
  const invalid = (cause?: unknown) => new TesseraAuthError('TOKEN_INVALID', { cause })

  return {
    async verify(token) {
      if (typeof token !== 'string' || token === '') throw new TesseraAuthError('TOKEN_MISSING')
      let header: ReturnType<typeof decodeProtectedHeader>
      try {
        header = decodeProtectedHeader(token)
      } catch (cause) {
        throw invalid(cause)
      }
      if (FORBIDDEN_HEADERS.some((name) => name in header)) throw invalid()

      let payload: JWTPayload
      try {
        const currentDate = config.clock?.now()
        const result = await jwtVerify(token, key, { ...verifyOptions, currentDate })
        payload = result.payload
      } catch (error) {
        if (error instanceof TesseraAuthError) throw error
        // jose checks exp only after the signature: JWTExpired means a genuine token that has expired
        if (error instanceof joseErrors.JWTExpired)
          throw new TesseraAuthError('TOKEN_EXPIRED', { cause: error })
        throw invalid(error)
      }

      const claims = toAccessClaims(payload)
      if (!claims) throw invalid()
      if (config.isRevoked && (await config.isRevoked(claims))) throw invalid()
      return claims
    },
  }
}
