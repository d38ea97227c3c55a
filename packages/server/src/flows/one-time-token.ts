import { createHash, randomBytes } from 'node:crypto'

/** A one-time token: 256 random bits for the mail link; only the SHA-256 is stored. */
export function newOneTimeToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url')
  return { token, hash: hashOneTimeToken(token) }
}

export const hashOneTimeToken = (token: string): Buffer => createHash('sha256').update(token).digest()

const SHAPE = /^[A-Za-z0-9_-]{43}$/
/** Anything else cannot be one of ours: refused without a lookup. */
export const isWellFormedOneTimeToken = (value: string): boolean => SHAPE.test(value)
