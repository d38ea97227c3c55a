import { pbkdf2, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { type Algorithm, hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2'
import { type ParsedHash, parseHash } from './hash-formats.js'

/** argon2id parameters; the defaults are OWASP's (19 MiB, t=2, p=1). */
export interface Argon2Params {
  /** KiB. */
  memoryCost: number
  timeCost: number
  parallelism: number
}

export const OWASP_ARGON2ID: Argon2Params = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 })

// const enums cannot be imported under isolatedModules; 2 is Algorithm.Argon2id
const ARGON2ID: Algorithm = 2

export interface PasswordCheck {
  ok: boolean
  /** The stored hash is bcrypt, argon2i, PBKDF2 or weaker argon2id parameters: store a fresh hash. */
  needsRehash: boolean
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  verify(storedHash: string, password: string): Promise<PasswordCheck>
  /** Spends the time of a real verification, for logins of unknown emails. */
  verifyDummy(password: string): Promise<void>
}

const pbkdf2Async = promisify(pbkdf2)

/**
 * Whether `password` matches a hash of another format (all run on libuv's thread pool). A hash
 * the library refuses (a bad salt, say) matches nothing: a broken row is a failed login, not a 500.
 */
async function verifyParsed(parsed: ParsedHash, storedHash: string, password: string): Promise<boolean> {
  try {
    // bcrypt is loaded with the first imported bcrypt hash: most servers never see one
    if (parsed.kind === 'bcrypt') return await (await import('@node-rs/bcrypt')).verify(password, storedHash)
    if (parsed.kind === 'pbkdf2_sha256') {
      const derived = await pbkdf2Async(
        password,
        parsed.salt,
        parsed.iterations,
        parsed.derived.length,
        'sha256',
      )
      return timingSafeEqual(derived, parsed.derived)
    }
    return await argon2Verify(storedHash, password)
  } catch {
    return false
  }
}

/** Hashing runs on libuv's thread pool: the event loop never waits for it. */
export function createPasswordHasher(params: Argon2Params = OWASP_ARGON2ID): PasswordHasher {
  const options = { ...params, algorithm: ARGON2ID }
  let dummy: Promise<string> | undefined

  const hash = (password: string) => argon2Hash(password, options)

  return {
    hash,
    async verify(storedHash, password) {
      // an unknown format (or a cost out of bounds) matches no password, and spends no time
      const parsed = parseHash(storedHash)
      if (!parsed.ok) return { ok: false, needsRehash: false }
      const { hash: stored } = parsed
      const ok = await verifyParsed(stored, storedHash, password)
      // the upgrade to argon2id binds the whole password, where bcrypt read only 72 bytes of it
      const needsRehash =
        stored.kind !== 'argon2id' ||
        stored.memoryCost < params.memoryCost ||
        stored.timeCost < params.timeCost ||
        stored.parallelism !== params.parallelism
      return { ok, needsRehash: ok && needsRehash }
    },
    async verifyDummy(password) {
      dummy ??= hash('tessera-dummy-password-for-equal-timing')
      await argon2Verify(await dummy, password)
    },
  }
}
