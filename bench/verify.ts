/**
 * RS256 access-token verification in one thread, one token after another: raw node:crypto.verify
 * (the signature alone, the ceiling) against jose's jwtVerify, fast-jwt alone, and
 * @tessera/middleware's verifier with its verified-token cache off (every token checked in full),
 * on a cache hit, and over a pool of 10,000 distinct tokens with the default cache of 10,000.
 *
 *   node --expose-gc --import tsx bench/verify.ts
 *   BENCH_VERIFY_SECONDS=0.3 BENCH_VERIFY_ROUNDS=15 (the defaults)
 *
 * Rates are verifications per second of CPU time. Each round runs every subject between two runs
 * of the raw verify; a ratio is to their mean, and the table shows the median over the rounds
 * (one noisy machine: compare ratios, not absolutes).
 */
import { verify as cryptoVerify, generateKeyPairSync, randomUUID } from 'node:crypto'
import { createVerifier as createFastJwtVerifier } from 'fast-jwt'
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT } from 'jose'
import { createVerifier } from '../packages/middleware/src/index.js'

const SECONDS = Number(process.env.BENCH_VERIFY_SECONDS ?? 0.3)
const ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 15)
const POOL = 10_000
const ISSUER = 'https://auth.example.com'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-key', alg: 'RS256', use: 'sig' }
const jwks = { keys: [jwk] }

console.log(`signing ${POOL} RS256 access tokens`)
const now = Math.floor(Date.now() / 1000)
const tokens: string[] = []
for (let i = 0; i < POOL; i++) {
  tokens.push(
    await new SignJWT({
      sid: randomUUID(),
      roles: ['user'],
      email: `user-${i}@example.com`,
      email_verified: true,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench-key', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience('tessera')
      .setSubject(randomUUID())
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey),
  )
}
const token = (i: number): string => tokens[i % POOL] ?? ''

const joseKeys = createLocalJWKSet(jwks)
const verifierOptions = { issuer: ISSUER, audience: 'tessera', jwks } as const
const uncached = createVerifier({ ...verifierOptions, cacheSize: 0 })
const cached = createVerifier(verifierOptions)
const pooled = createVerifier(verifierOptions)

const fastJwt = createFastJwtVerifier({
  key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  algorithms: ['RS256'],
  checkTyp: 'at+jwt',
  allowedIss: ISSUER,
  allowedAud: ['tessera'],
  requiredClaims: ['iss', 'aud', 'sub', 'exp', 'iat'],
  ignoreExpiration: true,
  ignoreNotBefore: true,
})

type Subject = { name: string; verifyOne: (i: number) => Promise<unknown> }
const SUBJECTS: Subject[] = [
  {
    name: 'raw node:crypto.verify (signature only)',
    verifyOne: async (i) => {
      const jwt = token(i)
      const dot = jwt.lastIndexOf('.')
      const signature = Buffer.from(jwt.slice(dot + 1), 'base64url')
      if (!cryptoVerify('RSA-SHA256', Buffer.from(jwt.slice(0, dot)), publicKey, signature))
        throw new Error('bad')
    },
  },
  {
    name: 'jose jwtVerify (local JWKS, same checks)',
    verifyOne: (i) =>
      jwtVerify(token(i), joseKeys, {
        algorithms: ['RS256', 'ES256', 'EdDSA'],
        issuer: ISSUER,
        audience: 'tessera',
        typ: 'at+jwt',
        requiredClaims: ['iss', 'aud', 'sub', 'exp', 'iat'],
      }),
  },
  {
    // the ceiling of the middleware's uncached path: the library alone, its key made once from a PEM
    name: 'fast-jwt alone (PEM key, no exp/nbf check)',
    verifyOne: async (i) => fastJwt(token(i)),
  },
  { name: 'middleware, cacheSize 0 (fast-jwt path)', verifyOne: (i) => uncached.verify(token(i)) },
  { name: 'middleware, one repeated token (cache hit)', verifyOne: () => cached.verify(token(0)) },
  { name: `middleware, ${POOL} tokens, default cache`, verifyOne: (i) => pooled.verify(token(i)) },
  // one busy client among many: a hit must stay cheap in a full cache
  { name: 'middleware, one token in that full cache', verifyOne: () => pooled.verify(token(0)) },
]

/**
 * Verifications per second of CPU time (user + system, all threads of this process) over a run of
 * SECONDS: on a shared machine, CPU time counts only what this process did, so other load barely
 * moves it, where wall-clock rates swing by 2x.
 */
async function opsPerSecond(subject: Subject): Promise<number> {
  let done = 0
  const cpu = process.cpuUsage()
  const end = performance.now() + SECONDS * 1000
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) await subject.verifyOne(done++)
  }
  const used = process.cpuUsage(cpu)
  return done / ((used.user + used.system) / 1e6)
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/** Heap in use, in bytes, after a full collection when node runs with --expose-gc. */
const heapUsed = (): number => {
  ;(globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage().heapUsed
}

// what the cache holds: each entry keeps its own token string alive (a request header), so the
// tokens are copied, as they would arrive; measured as what is freed when the verifier goes
let sized: ReturnType<typeof createVerifier> | undefined = createVerifier(verifierOptions)
for (const jwt of tokens) await sized.verify(Buffer.from(jwt).toString())
const heapWithCache = heapUsed()
// read after the measure, so the verifier is still alive at it
const cachedEntries = sized.cacheStats().size
sized = undefined
const cacheBytes = heapWithCache - heapUsed()

// warm-up: JIT and key imports; then the pooled verifier's cache is filled once
for (const subject of SUBJECTS) for (let i = 0; i < 2_000; i++) await subject.verifyOne(i)
for (let i = 0; i < POOL; i++) await pooled.verify(token(i))

// the machine is shared: each subject runs between two runs of the raw verify, and is compared
// to their mean, so load that comes and goes weighs on both sides alike
const [raw, ...others] = SUBJECTS
if (!raw) throw new Error('no subjects')
const rates = new Map<string, number[]>(SUBJECTS.map((subject) => [subject.name, []]))
const ratios = new Map<string, number[]>(others.map((subject) => [subject.name, []]))
for (let round = 1; round <= ROUNDS; round++) {
  for (const subject of others) {
    const before = await opsPerSecond(raw)
    const rate = await opsPerSecond(subject)
    const after = await opsPerSecond(raw)
    rates.get(raw.name)?.push(before, after)
    rates.get(subject.name)?.push(rate)
    ratios.get(subject.name)?.push(rate / ((before + after) / 2))
  }
  process.stdout.write(`round ${round}/${ROUNDS}\r`)
}

console.log(`\nRS256 2048-bit, sequential, ${ROUNDS} rounds of ${SECONDS} s, Node ${process.version}`)
console.log('subject'.padEnd(48), 'per CPU-s'.padStart(11), 'x raw'.padStart(7), '  (quartiles x raw)')
for (const subject of SUBJECTS) {
  const r = [...(ratios.get(subject.name) ?? [1])].sort((a, b) => a - b)
  const at = (q: number) => (r[Math.floor(q * (r.length - 1))] ?? 0).toFixed(2)
  console.log(
    subject.name.padEnd(48),
    Math.round(median(rates.get(subject.name) ?? []))
      .toString()
      .padStart(11),
    at(0.5).padStart(7),
    `  (${at(0.25)}-${at(0.75)})`,
  )
}
console.log(`\npooled verifier: ${JSON.stringify(pooled.cacheStats())}`)
console.log(
  `heap for ${cachedEntries} cached tokens: ${(cacheBytes / 2 ** 20).toFixed(1)} MB, about ${Math.round(
    cacheBytes / cachedEntries,
  )} bytes an entry (token ${token(0).length} chars)${'gc' in globalThis ? '' : ' (no --expose-gc: rough)'}`,
)
