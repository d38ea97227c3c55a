/**
 * The ceiling of the protected route: node:crypto RS256 signature checks of the same tokens, one
 * after another on one thread, with nothing else (no claims, no HTTP). Counts verifications per
 * second over the token pool, round robin.
 *
 * env: BENCH_TOKENS_FILE ({ rs256: string[] }), BENCH_JWKS_URL
 */
import { createPublicKey, type JsonWebKey, type KeyObject, verify } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { serveRuns } from './serve-runs.js'

const file = process.env.BENCH_TOKENS_FILE
const jwksUrl = process.env.BENCH_JWKS_URL
if (!file || !jwksUrl) throw new Error('BENCH_TOKENS_FILE and BENCH_JWKS_URL are required')

const { rs256 } = JSON.parse(await readFile(file, 'utf8')) as { rs256: string[] }
const { keys } = (await (await fetch(jwksUrl)).json()) as { keys: (JsonWebKey & { kid: string })[] }
const byKid = new Map<string, KeyObject>(
  keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: 'jwk' })]),
)

const kidOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString()) as { kid: string }).kid
const prepared = rs256.map((token) => {
  const key = byKid.get(kidOf(token))
  if (!key) throw new Error('a token names a key the JWKS does not have')
  return { token, key }
})

function verifyOne({ token, key }: { token: string; key: KeyObject }): boolean {
  const lastDot = token.lastIndexOf('.')
  const signature = Buffer.from(token.slice(lastDot + 1), 'base64url')
  return verify('RSA-SHA256', Buffer.from(token.slice(0, lastDot)), key, signature)
}

serveRuns(async (seconds) => {
  const end = performance.now() + seconds * 1000
  let done = 0
  const started = performance.now()
  while (performance.now() < end) {
    // check the clock every 64 verifications, not every one
    for (let i = 0; i < 64; i++) {
      const entry = prepared[done % prepared.length]
      if (!entry || !verifyOne(entry)) throw new Error('a token failed to verify')
      done++
    }
  }
  return done / ((performance.now() - started) / 1000)
})
