import { KeyObject, randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { decodeProtectedHeader, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import { type Clock, epochSeconds } from '../clock.js'
import type { Config } from '../config.js'
import { TesseraError } from '../errors.js'
import { isUuid } from '../ids.js'
import type { KeyRing, SigningKey } from '../keys/key-ring.js'

/** What Tessera puts in an access token beyond the registered claims. */
export interface AccessTokenSubject {
  userId: string
  sessionId: string
  roles: string[]
  email: string
  emailVerified: boolean
  /** Tokens of the user issued before this are stale: this one is issued at it or later. */
  notBefore?: Date | null
  /** How the user signed in (the session's): RFC 8176 `amr`, `acr` and `auth_time`. */
  auth: { amr: string[]; acr: string; authenticatedAt: Date }
  /** The user's app metadata: the `app` claim, left out when empty. */
  app?: Record<string, unknown>
}

export interface AccessTokenClaims {
  iss: string
  aud: string
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  roles: string[]
  email: string
  email_verified: boolean
  /** RFC 8176 authentication methods: `pwd`, `otp`, `mfa`. */
  amr: string[]
  /** `urn:tessera:pwd`, or `urn:tessera:mfa` after two factors. */
  acr: string
  /** Unix seconds of the sign-in, or of the last step-up. */
  auth_time: number
  /** The app metadata an administrator set for the user; only when not empty. */
  app?: Record<string, unknown>
}

/**
 * A verified token's claims: tokens issued before Tessera put `amr`, `acr` and `auth_time` in them
 * (they live 15 minutes) may lack them, and then count as neither recent nor multi-factor.
 */
export type VerifiedAccessTokenClaims = Omit<AccessTokenClaims, 'amr' | 'acr' | 'auth_time'> &
  Partial<Pick<AccessTokenClaims, 'amr' | 'acr' | 'auth_time'>>

export type AccessTokenConfig = Pick<Config, 'publicUrl' | 'audience' | 'accessTokenTtl'>

export interface AccessTokenDeps {
  keyRing: KeyRing
  clock: Clock
  config: AccessTokenConfig
}

export const ACCESS_TOKEN_TYP = 'at+jwt'

type Sign = (payload: Record<string, unknown>) => string

// one signer per key object of the ring, dropped with it
const signers = new WeakMap<object, { kid: string; alg: string; sign: Sign }>()

/**
 * fast-jwt's signer for a ring key: node:crypto, synchronous. jose signs through WebCrypto, whose
 * hop to libuv's pool and back cost more CPU than the signature on a small machine (RS256 0.43 ms
 * of CPU against 0.28 ms; ES256 0.17 against 0.07: `npm run bench:sign`), and a refresh or a
 * login is bound by CPU. The event loop is held for the signature itself (RS256 about 0.3 ms).
 */
export function signerFor({ kid, alg, key }: SigningKey): Sign {
  const known = signers.get(key)
  if (known?.kid === kid && known.alg === alg) return known.sign
  const keyObject = key instanceof KeyObject ? key : KeyObject.from(key)
  const material =
    keyObject.type === 'secret' ? keyObject.export() : keyObject.export({ type: 'pkcs8', format: 'pem' })
  const sign = createSigner({
    key: material,
    algorithm: alg,
    kid,
    header: { alg, typ: ACCESS_TOKEN_TYP },
  }) as Sign
  signers.set(key, { kid, alg, sign })
  return sign
}

/** Signs an RFC 9068 access token with the ring's active key. */
export async function issueAccessToken(deps: AccessTokenDeps, subject: AccessTokenSubject): Promise<string> {
  const sign = signerFor(deps.keyRing.signingKey())
  // right after a change made the user's tokens stale (`notBefore`, the next whole second), the
  // new token is dated at it, up to a second ahead, so that it passes the staleness check
  const iat = Math.max(
    epochSeconds(deps.clock.now()),
    subject.notBefore ? epochSeconds(subject.notBefore) : 0,
  )
  const claims: AccessTokenClaims = {
    iss: deps.config.publicUrl,
    aud: deps.config.audience,
    sub: subject.userId,
    sid: subject.sessionId,
    jti: randomUUID(),
    iat,
    exp: iat + deps.config.accessTokenTtl,
    roles: subject.roles,
    email: subject.email,
    email_verified: subject.emailVerified,
    amr: subject.auth.amr,
    acr: subject.auth.acr,
    auth_time: epochSeconds(subject.auth.authenticatedAt),
    ...(subject.app && Object.keys(subject.app).length > 0 ? { app: subject.app } : {}),
  }
  return sign({ ...claims })
}

/** Seconds an `iat` may be ahead of this server's clock: instances' clocks differ a little. */
const IAT_SKEW = 5

// header members that would let a token bring its own key or make us fetch one
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256'] as const

/**
 * Verifies a JWT this server signed, by the rules every token of ours follows: signature under one
 * of our keys, an explicit algorithm allow-list, issuer, audience, `typ: at+jwt`, the given claims
 * present, no clock leeway, no `iat` from the future (beyond the skew between instances), and
 * `shaped` (the kind's own claims) true. Throws TOKEN_EXPIRED for a genuine token past `exp` and
 * TOKEN_INVALID for everything else, without saying which check failed.
 */
export async function verifyOurToken(
  deps: Pick<AccessTokenDeps, 'keyRing' | 'clock'> & { config: Pick<Config, 'publicUrl' | 'audience'> },
  token: string,
  requiredClaims: readonly string[],
  shaped: (payload: JWTPayload) => boolean,
): Promise<JWTPayload> {
  const invalid = (cause?: unknown) => new TesseraError('TOKEN_INVALID', { cause })
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(token)
  } catch (cause) {
    throw invalid(cause)
  }
  if (
    FORBIDDEN_HEADERS.some((name) => name in header) ||
    typeof header.kid !== 'string' ||
    typeof header.alg !== 'string'
  ) {
    throw invalid()
  }
  const algorithms = deps.keyRing.algorithms()
  if (!(algorithms as string[]).includes(header.alg)) throw invalid()
  const key = await deps.keyRing.verificationKey(header.kid, header.alg)
  if (!key) throw invalid()

  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms,
      issuer: deps.config.publicUrl,
      audience: deps.config.audience,
      typ: ACCESS_TOKEN_TYP,
      clockTolerance: 0,
      currentDate: deps.clock.now(),
      requiredClaims: [...requiredClaims],
    })
    if (
      typeof payload.iat !== 'number' ||
      payload.iat > epochSeconds(deps.clock.now()) + IAT_SKEW ||
      !shaped(payload)
    ) {
      throw invalid()
    }
    return payload
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw new TesseraError('TOKEN_EXPIRED', { cause: error })
    if (error instanceof TesseraError) throw error
    throw invalid(error)
  }
}

/** Verifies a user's access token (verifyOurToken's rules, and the claims Tessera puts in one). */
export async function verifyAccessToken(
  deps: AccessTokenDeps,
  token: string,
): Promise<VerifiedAccessTokenClaims> {
  const payload = await verifyOurToken(
    deps,
    token,
    ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp'],
    // ids that are not UUIDs never came from us, and would fail the session lookup's SQL
    (claims) =>
      isUuid(claims.sub) &&
      isUuid(claims.sid) &&
      typeof claims.email === 'string' &&
      typeof claims.email_verified === 'boolean' &&
      Array.isArray(claims.roles) &&
      claims.roles.every((role) => typeof role === 'string') &&
      (claims.amr === undefined ||
        (Array.isArray(claims.amr) && claims.amr.every((method) => typeof method === 'string'))) &&
      (claims.acr === undefined || typeof claims.acr === 'string') &&
      (claims.auth_time === undefined || typeof claims.auth_time === 'number') &&
      (claims.app === undefined ||
        (typeof claims.app === 'object' && claims.app !== null && !Array.isArray(claims.app))),
  )
  return payload as unknown as VerifiedAccessTokenClaims
}
