/**
 * The ceiling of a server that checks every token: the same Fastify route, its hook doing only
 * what a signature check cannot skip (split the token, find the key by `kid`, node:crypto RS256
 * verify, read `sub` for the answer). No `alg`, `typ`, `iss`, `aud` or time checks: a measure,
 * not a way to protect anything.
 */
import { createPublicKey, type JsonWebKey, type KeyObject, verify } from 'node:crypto'
import Fastify from 'fastify'
import { announceReady, portOf } from './ready.js'

const issuer = process.env.BENCH_ISSUER
if (!issuer) throw new Error('BENCH_ISSUER is required')

declare module 'fastify' {
  interface FastifyRequest {
    sub?: string
  }
}

// fetched on the first request: the issuer starts beside this server
let byKid: Map<string, KeyObject> | undefined
async function loadKeys(): Promise<Map<string, KeyObject>> {
  const { keys } = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as {
    keys: (JsonWebKey & { kid: string })[]
  }
  return new Map(keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: 'jwk' })]))
}
// one header per key: decoded once, as any verifier would
const kidOf = new Map<string, string>()

const decode = (segment: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(segment, 'base64url').toString()) as Record<string, unknown>

function subOf(byKid: Map<string, KeyObject>, token: string): string | undefined {
  const firstDot = token.indexOf('.')
  const lastDot = token.lastIndexOf('.')
  if (firstDot <= 0 || lastDot === firstDot) return undefined
  const header = token.slice(0, firstDot)
  let kid = kidOf.get(header)
  if (kid === undefined) {
    kid = String(decode(header).kid)
    kidOf.set(header, kid)
  }
  const key = byKid.get(kid)
  if (!key) return undefined
  const signature = Buffer.from(token.slice(lastDot + 1), 'base64url')
  if (!verify('RSA-SHA256', Buffer.from(token.slice(0, lastDot)), key, signature)) return undefined
  const { sub } = decode(token.slice(firstDot + 1, lastDot))
  return typeof sub === 'string' ? sub : undefined
}

const app = Fastify()
app.decorateRequest('sub', undefined)
app.get(
  '/api/profile',
  {
    onRequest: async (request, reply) => {
      byKid ??= await loadKeys()
      const header = request.headers.authorization
      const sub = header?.startsWith('Bearer ') ? subOf(byKid, header.slice(7)) : undefined
      if (sub === undefined) return reply.code(401).send({ error: 'invalid token' })
      request.sub = sub
    },
  },
  async (request) => ({ sub: request.sub }),
)
await app.listen({ host: '127.0.0.1', port: 0 })
announceReady(portOf(app.server.address()))
