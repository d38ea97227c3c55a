import { createHash, createHmac, createPublicKey, type KeyObject, sign } from 'node:crypto'
import fc from 'fast-check'
import type { PoolAccess } from './credential-pool.js'
import { nastyString } from './nasty-strings.js'
import type { JsonObject } from './openapi-document.js'

/**
 * JWTs that are not what the server issued: a valid signature over claims it never wrote
 * (`sid` not a UUID, `exp` a string), or the right claims under a forged or missing signature.
 */

/** One claim: as in a real token of the pool, absent, a fuzzed value, or a time relative to now. */
export type ClaimChoice =
  | { kind: 'real' }
  | { kind: 'missing' }
  | { kind: 'value'; value: unknown }
  | { kind: 'offset'; seconds: number }

export type SignatureMode =
  /** A valid signature with the server's own signing key. */
  | 'ring'
  /** The signature of a real token, over other claims. */
  | 'stolen'
  | 'random'
  | 'empty'
  | 'hmac-random'
  /** HS256 keyed with the server's public key: the classic algorithm confusion. */
  | 'hmac-public-key'

export interface TokenPlan {
  signature: SignatureMode
  /** Which pool token lends its real claims (`sub`, `sid`, `email`, ...). */
  owner: number
  alg: { kind: 'ring' } | { kind: 'value'; value: unknown }
  kid: ClaimChoice
  typ: ClaimChoice
  extraHeader: JsonObject
  claims: Record<string, ClaimChoice>
}

export interface SigningMaterial {
  kid: string
  alg: string
  key: KeyObject
}

export interface MintContext {
  signing: SigningMaterial
  issuer: string
  audience: string
  /** Seconds since the epoch on the server's clock. */
  now(): number
}

const CLAIMS = [
  'iss',
  'aud',
  'sub',
  'sid',
  'jti',
  'iat',
  'exp',
  'nbf',
  'roles',
  'email',
  'email_verified',
] as const
const TIME_CLAIMS = new Set(['iat', 'exp', 'nbf'])
const ZERO_UUID = '00000000-0000-4000-8000-000000000000'
const RANDOM_SIGNATURE = createHash('sha512').update('not a signature').digest().toString('base64url')

const claimValue = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.uuid(),
    nastyString(),
    fc.string({ maxLength: 40 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 3 }),
    fc.jsonValue({ maxDepth: 1 }),
  )

const REAL: ClaimChoice = { kind: 'real' }
const MISSING: ClaimChoice = { kind: 'missing' }

const offset = (): fc.Arbitrary<ClaimChoice> =>
  fc
    .constantFrom(-86_400, -901, -1, 0, 1, 60, 901, 3_153_600_000)
    .map((seconds): ClaimChoice => ({ kind: 'offset', seconds }))

const fuzzedValue = (): fc.Arbitrary<ClaimChoice> =>
  claimValue().map((value): ClaimChoice => ({ kind: 'value', value }))

/** A claim other than the server writes it: absent, of another type or value, another time. */
function claimDeviation(name: string): fc.Arbitrary<ClaimChoice> {
  // the server sets no nbf: present at all is the deviation
  if (name === 'nbf') return offset()
  const deviations = [fc.constant(MISSING), fuzzedValue()]
  return fc.oneof(...deviations, ...(TIME_CLAIMS.has(name) ? [offset()] : []))
}

const headerDeviation = (): fc.Arbitrary<ClaimChoice> =>
  fc.oneof(
    fc.constant(MISSING),
    fc
      .constantFrom('JWT', 'application/at+jwt', 'AT+JWT', '../../etc/passwd', 'unknown-kid')
      .map((value): ClaimChoice => ({ kind: 'value', value })),
    fuzzedValue(),
  )

const algDeviation = (): fc.Arbitrary<TokenPlan['alg']> =>
  fc
    .constantFrom<unknown>(
      'none',
      'None',
      'HS256',
      'RS256',
      'ES256',
      'EdDSA',
      'RS512',
      'PS256',
      '',
      null,
      256,
    )
    .map((value) => ({ kind: 'value', value }) as const)

const signatureDeviation = (): fc.Arbitrary<SignatureMode> =>
  fc.constantFrom<SignatureMode>('stolen', 'random', 'empty', 'hmac-random', 'hmac-public-key')

const extraHeaderDeviation = (): fc.Arbitrary<JsonObject> =>
  fc.constantFrom<JsonObject>(
    { jku: 'https://evil.example/jwks.json' },
    { jwk: { kty: 'oct', k: 'c2VjcmV0' } },
    { crit: ['exp'] },
    { x5u: 'https://evil.example/cert.pem' },
  )

const realClaims = (): Record<string, ClaimChoice> =>
  Object.fromEntries(CLAIMS.map((name) => [name, name === 'nbf' ? MISSING : REAL]))

/** What the server would sign for the pool token `owner`, with a fresh `iat` and `exp`. */
const realPlan = (owner: number): TokenPlan => ({
  signature: 'ring',
  owner,
  alg: { kind: 'ring' },
  kid: REAL,
  typ: REAL,
  extraHeader: {},
  claims: realClaims(),
})

/** A real token with exactly one thing wrong, so each check of the verifier meets its case alone. */
function oneDeviation(): fc.Arbitrary<TokenPlan> {
  const changes: fc.Arbitrary<Partial<TokenPlan>>[] = [
    signatureDeviation().map((signature) => ({ signature })),
    algDeviation().map((alg) => ({ alg })),
    headerDeviation().map((kid) => ({ kid })),
    headerDeviation().map((typ) => ({ typ })),
    extraHeaderDeviation().map((extraHeader) => ({ extraHeader })),
    ...CLAIMS.map((name) =>
      claimDeviation(name).map((choice) => ({ claims: { ...realClaims(), [name]: choice } })),
    ),
  ]
  return fc
    .tuple(fc.nat(), fc.oneof(...changes))
    .map(([owner, change]) => ({ ...realPlan(owner), ...change }))
}

const sometimes = <T>(real: T, deviation: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(real) }, { weight: 1, arbitrary: deviation })

/** Several things wrong at once. */
function manyDeviations(): fc.Arbitrary<TokenPlan> {
  const claims = Object.fromEntries(
    CLAIMS.map((name) => [name, sometimes(name === 'nbf' ? MISSING : REAL, claimDeviation(name))]),
  )
  return fc.record({
    signature: sometimes<SignatureMode>('ring', signatureDeviation()),
    owner: fc.nat(),
    alg: sometimes<TokenPlan['alg']>({ kind: 'ring' }, algDeviation()),
    kid: sometimes(REAL, headerDeviation()),
    typ: sometimes(REAL, headerDeviation()),
    extraHeader: sometimes<JsonObject>({}, extraHeaderDeviation()),
    claims: fc.record(claims),
  })
}

export function tokenPlanArbitrary(): fc.Arbitrary<TokenPlan> {
  return fc.oneof(
    { weight: 6, arbitrary: oneDeviation() },
    { weight: 3, arbitrary: manyDeviations() },
    { weight: 1, arbitrary: fc.nat().map(realPlan) },
  )
}

const isOffsetAtMost = (choice: ClaimChoice, seconds: number): boolean =>
  choice.kind === 'offset' && choice.seconds <= seconds

/** A claim a verifier must find, of the right type where the server checks it. */
function badClaim(name: string, choice: ClaimChoice): boolean {
  if (choice.kind === 'missing') return ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp'].includes(name)
  if (choice.kind !== 'value') return false
  const { value } = choice
  switch (name) {
    // no fuzzed value is the server's issuer, audience, or a live user's session
    case 'iss':
    case 'aud':
    case 'sub':
    case 'sid':
      return true
    case 'email':
      return typeof value !== 'string'
    case 'email_verified':
      return typeof value !== 'boolean'
    case 'roles':
      return !Array.isArray(value) || !value.every((role) => typeof role === 'string')
    default:
      return false
  }
}

/**
 * Why no server may accept this token, whatever state it is in; undefined when a correct server
 * might (a validly signed token with an odd `jti` or `roles` is still the server's own).
 */
export function mustRefuse(plan: TokenPlan, signingAlg: string): string | undefined {
  if (plan.signature !== 'ring') return `its signature is "${plan.signature}", not the server's`
  if (plan.alg.kind === 'value' && plan.alg.value !== signingAlg) {
    return `its alg is ${JSON.stringify(plan.alg.value)}`
  }
  if (plan.kid.kind !== 'real') return "its kid is not the signing key's"
  if (plan.typ.kind === 'missing') return 'it has no typ'
  const extra = Object.keys(plan.extraHeader)
  if (extra.length > 0) return `its header carries ${extra.join(', ')}`
  const claims = plan.claims
  const exp = claims.exp
  if (exp && isOffsetAtMost(exp, 0)) return 'it has expired'
  const nbf = claims.nbf
  if (nbf && nbf.kind === 'offset' && nbf.seconds > 0) return 'it is not valid yet'
  const bad = Object.entries(claims).find(([name, choice]) => badClaim(name, choice))
  return bad ? `its ${bad[0]} is ${bad[1].kind === 'missing' ? 'missing' : "not the server's"}` : undefined
}

const segment = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')

function choose(choice: ClaimChoice, real: unknown, now: number): unknown {
  switch (choice.kind) {
    case 'real':
      return real
    case 'missing':
      return undefined
    case 'value':
      return choice.value
    case 'offset':
      return now + choice.seconds
  }
}

function claimsFor(plan: TokenPlan, context: MintContext, owner: PoolAccess | undefined): JsonObject {
  const now = context.now()
  const real: JsonObject = {
    iss: context.issuer,
    aud: context.audience,
    sub: ZERO_UUID,
    sid: ZERO_UUID,
    jti: ZERO_UUID,
    roles: ['user'],
    email: 'nobody@example.com',
    email_verified: false,
    ...owner?.claims,
    iat: now,
    exp: now + 900,
  }
  const claims: JsonObject = {}
  for (const [name, choice] of Object.entries(plan.claims)) {
    const value = choose(choice, real[name], now)
    if (value !== undefined) claims[name] = value
  }
  return claims
}

function headerFor(plan: TokenPlan, context: MintContext): JsonObject {
  const header: JsonObject = { ...plan.extraHeader }
  header.alg = plan.alg.kind === 'ring' ? context.signing.alg : plan.alg.value
  const kid = choose(plan.kid, context.signing.kid, 0)
  if (kid !== undefined) header.kid = kid
  const typ = choose(plan.typ, 'at+jwt', 0)
  if (typ !== undefined) header.typ = typ
  return header
}

/** A signature with the server's key, whatever algorithm it uses. */
function signWithRing(signing: SigningMaterial, input: string): string {
  const data = Buffer.from(input, 'utf8')
  switch (signing.alg) {
    case 'HS256':
      return createHmac('sha256', signing.key).update(data).digest('base64url')
    case 'ES256':
      return sign('sha256', data, { key: signing.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
    case 'EdDSA':
      return sign(null, data, signing.key).toString('base64url')
    default:
      return sign('sha256', data, signing.key).toString('base64url')
  }
}

function publicKeyPem(signing: SigningMaterial): string {
  if (signing.key.type !== 'private') return 'no public key'
  return String(createPublicKey(signing.key).export({ type: 'spki', format: 'pem' }))
}

function signatureFor(
  mode: SignatureMode,
  input: string,
  context: MintContext,
  owner: PoolAccess | undefined,
) {
  switch (mode) {
    case 'ring':
      return signWithRing(context.signing, input)
    case 'stolen':
      return owner?.token.split('.')[2] ?? RANDOM_SIGNATURE
    case 'random':
      return RANDOM_SIGNATURE
    case 'empty':
      return ''
    case 'hmac-random':
      return createHmac('sha256', 'not-the-secret').update(input).digest('base64url')
    case 'hmac-public-key':
      return createHmac('sha256', publicKeyPem(context.signing)).update(input).digest('base64url')
  }
}

/** The compact JWT a plan describes; `owner` lends the claims of a real token. */
export function mintToken(plan: TokenPlan, context: MintContext, owner: PoolAccess | undefined): string {
  const input = `${segment(headerFor(plan, context))}.${segment(claimsFor(plan, context, owner))}`
  return `${input}.${signatureFor(plan.signature, input, context, owner)}`
}
