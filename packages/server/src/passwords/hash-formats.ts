/**
 * The stored password hashes Tessera verifies: its own argon2id, and what other systems leave
 * behind (bcrypt, argon2i, Django's PBKDF2), accepted by `tessera users import` and upgraded to
 * argon2id at the first login. Each format's cost is bounded: a hash is data from another system,
 * and a row claiming bcrypt cost 31 or a billion PBKDF2 iterations would hold a hashing slot for
 * hours at every login attempt.
 */

export const HASH_KINDS = ['argon2id', 'argon2i', 'bcrypt', 'pbkdf2_sha256'] as const
export type HashKind = (typeof HASH_KINDS)[number]

/** bcrypt cost (log2 of the rounds): 4 is the format's least; 15 takes about a second here. */
export const BCRYPT_MAX_COST = 15
/** argon2 memory in KiB (256 MiB), passes and lanes: above common settings, short of a stall. */
export const ARGON2_MAX_MEMORY_KIB = 262_144
export const ARGON2_MAX_TIME_COST = 16
export const ARGON2_MAX_PARALLELISM = 16
/** PBKDF2-SHA256 iterations: Django 6.0 uses 1,200,000 (about 0.3 s here); 3,000,000 leaves room. */
export const PBKDF2_MAX_ITERATIONS = 3_000_000

export type ParsedHash =
  | { kind: 'argon2id' | 'argon2i'; memoryCost: number; timeCost: number; parallelism: number }
  | { kind: 'bcrypt'; cost: number }
  | { kind: 'pbkdf2_sha256'; iterations: number; salt: string; derived: Buffer }

/** What the hash is, or why it is not one Tessera verifies. */
export type HashVerdict = { ok: true; hash: ParsedHash } | { ok: false; reason: string }

// $2a$ / $2b$ / $2y$, two-digit cost, 22 characters of salt and 31 of hash in bcrypt's base64
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/
// PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash (the version may be missing: argon2 1.0)
const ARGON2 =
  /^\$(argon2id|argon2i)\$(?:v=(16|19)\$)?m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,3})\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/
// Django: pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>
const PBKDF2 = /^pbkdf2_sha256\$(\d{1,9})\$([^$\s]{1,128})\$([A-Za-z0-9+/]{43}=)$/

const refuse = (reason: string): HashVerdict => ({ ok: false, reason })

/** Parses a stored hash; never throws. */
export function parseHash(stored: string): HashVerdict {
  const bcrypt = BCRYPT.exec(stored)
  if (bcrypt) {
    const cost = Number(bcrypt[1])
    if (cost < 4 || cost > BCRYPT_MAX_COST)
      return refuse(`bcrypt cost ${cost} is outside 4 to ${BCRYPT_MAX_COST}`)
    return { ok: true, hash: { kind: 'bcrypt', cost } }
  }
  const argon2 = ARGON2.exec(stored)
  if (argon2) {
    const kind = argon2[1] as 'argon2id' | 'argon2i'
    const memoryCost = Number(argon2[3])
    const timeCost = Number(argon2[4])
    const parallelism = Number(argon2[5])
    if (memoryCost < 8 || memoryCost > ARGON2_MAX_MEMORY_KIB)
      return refuse(`${kind} memory ${memoryCost} KiB is outside 8 to ${ARGON2_MAX_MEMORY_KIB}`)
    if (timeCost < 1 || timeCost > ARGON2_MAX_TIME_COST)
      return refuse(`${kind} time cost ${timeCost} is outside 1 to ${ARGON2_MAX_TIME_COST}`)
    if (parallelism < 1 || parallelism > ARGON2_MAX_PARALLELISM)
      return refuse(`${kind} parallelism ${parallelism} is outside 1 to ${ARGON2_MAX_PARALLELISM}`)
    return { ok: true, hash: { kind, memoryCost, timeCost, parallelism } }
  }
  const pbkdf2 = PBKDF2.exec(stored)
  if (pbkdf2) {
    const iterations = Number(pbkdf2[1])
    if (iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS)
      return refuse(`pbkdf2_sha256 iterations ${iterations} are outside 1 to ${PBKDF2_MAX_ITERATIONS}`)
    const derived = Buffer.from(pbkdf2[3] ?? '', 'base64')
    return { ok: true, hash: { kind: 'pbkdf2_sha256', iterations, salt: pbkdf2[2] ?? '', derived } }
  }
  if (/^\$2[aby]\$/.test(stored)) return refuse('malformed bcrypt hash')
  if (stored.startsWith('$argon2'))
    return refuse('malformed or unsupported argon2 hash (argon2id and argon2i)')
  if (stored.startsWith('pbkdf2_'))
    return refuse('malformed or unsupported PBKDF2 hash (Django pbkdf2_sha256)')
  return refuse(
    'not a recognised hash (bcrypt, argon2id, argon2i, Django pbkdf2_sha256); plaintext passwords are refused',
  )
}
