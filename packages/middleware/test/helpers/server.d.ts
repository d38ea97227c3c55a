// The few members of the server the tests use, declared here (as Kysely declares the PGlite members
// it calls) instead of imported; see server.js for why.
import type { KeyObject } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { CryptoKey, JWK } from 'jose'

export interface ServerConfig {
  readonly publicUrl: string
}

export interface Clock {
  now(): Date
}

export interface ServerStores {
  users: {
    setRoles(id: string, roles: string[], at: Date): Promise<void>
  }
}

export interface Tessera {
  app: FastifyInstance
  deps: {
    stores: ServerStores
    keyRing: {
      signingKey(): { kid: string; alg: string; key: KeyObject | CryptoKey }
      jwks(): { keys: JWK[] }
      reload(): Promise<void>
    }
  }
  close(): Promise<void>
}

/** An open database: the in-memory PGlite the tests hand to createTessera. */
export interface DatabaseHandle {
  close(): Promise<void>
}

/** How the server hashes passwords; the tests ask for argon2id at its cheapest. */
export interface PasswordHasher {
  hash(password: string): Promise<string>
}

export function parseConfig(env: Readonly<Record<string, string | undefined>>): ServerConfig
export function createTessera(
  config: ServerConfig,
  options: { logger: false; clock?: Clock; database?: DatabaseHandle; hasher?: PasswordHasher },
): Promise<Tessera>
export function createPasswordHasher(params: {
  memoryCost: number
  timeCost: number
  parallelism: number
}): PasswordHasher
/** A new in-memory PGlite, already migrated (loaded from a snapshot instead of running initdb). */
export function migratedPgliteHandle(): Promise<DatabaseHandle>
export function rotateKey(deps: {
  stores: ServerStores
  clock: Clock
  secret: string
  alg: 'RS256' | 'ES256' | 'EdDSA'
  /** Seconds the new key is published before it signs; 0 switches at once. */
  lead: number
}): Promise<{ kid: string; activatesAt: Date }>
