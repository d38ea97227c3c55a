/**
 * What the server pays per access token it signs and per refresh successor it seals, in CPU time
 * of all threads: jose (WebCrypto, each operation a job on libuv's pool) against fast-jwt's signer
 * (node:crypto, synchronous) and raw `crypto.sign`, and jose's compact JWE against node:crypto's
 * AES-256-GCM. Every login and every refresh does one of each.
 *
 *   npm run bench:sign
 *   BENCH_SIGN_SECONDS=0.3 BENCH_SIGN_ROUNDS=9 (the defaults)
 *
 * Each round runs every subject between two runs of its raw node:crypto baseline; a ratio is the
 * baseline's CPU per operation over the subject's (1.00x: as cheap as the baseline), median over
 * the rounds. Machines here are noisy: compare ratios, not absolutes.
 */
import { createCipheriv, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { CompactEncrypt, SignJWT } from 'jose'
import { median } from './lib/stats.js'

const SECONDS = Number(process.env.BENCH_SIGN_SECONDS ?? 0.3)
const ROUNDS = Number(process.env.BENCH_SIGN_ROUNDS ?? 9)
/** Operations in flight at once in the parallel rows: 8 connections' worth. */
const PARALLEL = 8

const claims = {
  iss: 'https://auth.example.com',
  aud: 'tessera',
  sub: '6a1f8d4e-2b7c-4c1e-9f3a-5d8e7b6c4a21',
  sid: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  jti: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
  iat: 1_800_000_000,
  exp: 1_800_000_900,
  roles: ['user'],
  email: 'ada@example.com',
  email_verified: true,
}
const header = { kid: 'bench-key', typ: 'at+jwt' }

type Operation = () => unknown
interface Subject {
  name: string
  baseline: string
  run: Operation
}

const pem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString()
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
const signingInput = Buffer.from(
  `${Buffer.from(JSON.stringify({ alg: 'RS256', ...header })).toString('base64url')}.${Buffer.from(
    JSON.stringify(claims),
  ).toString('base64url')}`,
)

const joseSign = (alg: 'RS256' | 'ES256', key: KeyObject) => () =>
  new SignJWT({ ...claims }).setProtectedHeader({ alg, ...header }).sign(key)
const fastSigner = (alg: 'RS256' | 'ES256', key: KeyObject) => {
  const signer = createSigner({
    key: pem(key),
    algorithm: alg,
    kid: header.kid,
    header: { alg, typ: header.typ },
  })
  return () => signer({ ...claims })
}
const parallel = (operation: Operation) => () => Promise.all(Array.from({ length: PARALLEL }, operation))

const sealKey = randomBytes(32)
const successor = randomBytes(32).toString('base64url')
const nodeSeal = () => {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealKey, iv)
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')
}

const BASELINES: Record<string, Operation> = {
  'node:crypto.sign RS256': () => sign('sha256', signingInput, rsa),
  'node:crypto.sign ES256': () => sign('sha256', signingInput, { key: ec, dsaEncoding: 'ieee-p1363' }),
  'node:crypto AES-256-GCM': nodeSeal,
}

const SUBJECTS: Subject[] = [
  { name: 'jose SignJWT RS256', baseline: 'node:crypto.sign RS256', run: joseSign('RS256', rsa) },
  { name: 'fast-jwt createSigner RS256', baseline: 'node:crypto.sign RS256', run: fastSigner('RS256', rsa) },
  {
    name: `jose SignJWT RS256, ${PARALLEL} at once`,
    baseline: 'node:crypto.sign RS256',
    run: parallel(joseSign('RS256', rsa)),
  },
  { name: 'jose SignJWT ES256', baseline: 'node:crypto.sign ES256', run: joseSign('ES256', ec) },
  { name: 'fast-jwt createSigner ES256', baseline: 'node:crypto.sign ES256', run: fastSigner('ES256', ec) },
  {
    name: 'jose CompactEncrypt dir A256GCM',
    baseline: 'node:crypto AES-256-GCM',
    run: () =>
      new CompactEncrypt(new TextEncoder().encode(successor))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .encrypt(sealKey),
  },
]

/** Operations per CPU-second (user + system, all threads of this process) over SECONDS. */
async function perCpuSecond(operation: Operation, weight: number): Promise<number> {
  let done = 0
  const cpu = process.cpuUsage()
  const end = performance.now() + SECONDS * 1000
  while (performance.now() < end) {
    for (let i = 0; i < 16; i++) await operation()
    done += 16 * weight
  }
  const used = process.cpuUsage(cpu)
  return done / ((used.user + used.system) / 1e6)
}

const weightOf = (subject: Subject) => (subject.name.includes('at once') ? PARALLEL : 1)

// warm-up: JIT, key imports
for (const run of [...Object.values(BASELINES), ...SUBJECTS.map((subject) => subject.run)]) {
  for (let i = 0; i < 100; i++) await run()
}

const ratios = new Map<string, number[]>(SUBJECTS.map((subject) => [subject.name, []]))
const rates = new Map<string, number[]>()
const record = (name: string, rate: number) => rates.set(name, [...(rates.get(name) ?? []), rate])
for (let round = 1; round <= ROUNDS; round++) {
  for (const subject of SUBJECTS) {
    const baseline = BASELINES[subject.baseline]
    if (!baseline) throw new Error(`no baseline ${subject.baseline}`)
    const before = await perCpuSecond(baseline, 1)
    const rate = await perCpuSecond(subject.run, weightOf(subject))
    const after = await perCpuSecond(baseline, 1)
    record(subject.baseline, before)
    record(subject.baseline, after)
    record(subject.name, rate)
    ratios.get(subject.name)?.push(rate / ((before + after) / 2))
  }
  process.stdout.write(`round ${round}/${ROUNDS}\r`)
}

const cpuMicros = (name: string) => (1e6 / median(rates.get(name) ?? [])).toFixed(0)
console.log(`\n${ROUNDS} rounds of ${SECONDS} s, Node ${process.version}; CPU per operation, all threads`)
console.log('subject'.padEnd(40), 'µs CPU/op'.padStart(10), 'x baseline'.padStart(11), '  baseline')
for (const name of Object.keys(BASELINES)) {
  console.log(name.padEnd(40), cpuMicros(name).padStart(10), '1.00'.padStart(11))
}
for (const subject of SUBJECTS) {
  console.log(
    subject.name.padEnd(40),
    cpuMicros(subject.name).padStart(10),
    median(ratios.get(subject.name) ?? [])
      .toFixed(2)
      .padStart(11),
    ` ${subject.baseline}`,
  )
}
