import { createHash, randomBytes } from 'node:crypto'

export const RECOVERY_CODE_COUNT = 10

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** 80 random bits as 16 base32 letters in groups of four: `abcd-efgh-ijkl-mnop`. */
function newRecoveryCode(): string {
  const bytes = randomBytes(10)
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return out.match(/.{4}/g)?.join('-') ?? out
}

/** Ten new codes, each usable once; shown to the user once and then kept only as hashes. */
export const newRecoveryCodes = (): string[] => Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)

/**
 * SHA-256 of the code without its dashes, spaces or case. A fast hash is enough here, unlike for a
 * password: 80 random bits cannot be guessed from a stolen hash (2^80 tries), and the code is
 * single-use and only accepted with the account's password.
 */
export const hashRecoveryCode = (code: string): Uint8Array =>
  new Uint8Array(createHash('sha256').update(code.toLowerCase().replace(/[\s-]/g, '')).digest())
