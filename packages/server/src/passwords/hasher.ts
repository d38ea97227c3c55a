import { type Algorithm, hash as argon2Hash, verify as argon2Verify, parseOptions } from '@node-rs/argon2'
import { verify as bcryptVerify } from '@node-rs/bcrypt'

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
  /** The stored hash is bcrypt or weaker argon2 parameters: store a fresh hash. */
  needsRehash: boolean
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  verify(storedHash: string, password: string): Promise<PasswordCheck>
  /** Spends the time of a real verification, for logins of unknown emails. */
  verifyDummy(password: string): Promise<void>
}

const BCRYPT = /^\$2[aby]\$\d{2}\$/

/** Hashing runs on libuv's thread pool: the event loop never waits for it. */
export function createPasswordHasher(params: Argon2Params = OWASP_ARGON2ID): PasswordHasher {
  const options = { ...params, algorithm: ARGON2ID }
  let dummy: Promise<string> | undefined

  const hash = (password: string) => argon2Hash(password, options)

  return {
    hash,
    async verify(storedHash, password) {
      if (BCRYPT.test(storedHash)) {
        // the upgrade to argon2id binds the whole password, where bcrypt read only 72 bytes of it
        return { ok: await bcryptVerify(password, storedHash), needsRehash: true }
      }
      if (!storedHash.startsWith('$argon2')) return { ok: false, needsRehash: false }
      const ok = await argon2Verify(storedHash, password)
      const used = parseOptions(storedHash)
      const needsRehash =
        used.algorithm !== ARGON2ID ||
        used.memoryCost < params.memoryCost ||
        used.timeCost < params.timeCost ||
        used.parallelism !== params.parallelism
      return { ok, needsRehash: ok && needsRehash }
    },
    async verifyDummy(password) {
      dummy ??= hash('tessera-dummy-password-for-equal-timing')
      await argon2Verify(await dummy, password)
    },
  }
}
