import { createHash, hkdfSync, randomBytes } from 'node:crypto'
import { seal, unseal } from '../keys/secret.js'

/** 32 random bytes, base64url: 256 bits, 43 characters. */
export const newRefreshToken = (): string => randomBytes(32).toString('base64url')

const SHAPE = /^[A-Za-z0-9_-]{43}$/

/** True when `value` could be a token we issued; anything else is refused without a lookup. */
export const isWellFormedRefreshToken = (value: string): boolean => SHAPE.test(value)

/** The only form in which a refresh token is stored. */
export const hashRefreshToken = (token: string): Buffer => createHash('sha256').update(token).digest()

// The successor is kept sealed under a key only the holder of the parent token can derive, so a
// repeat inside the grace window gets the same successor back while the database never holds a
// usable token. HKDF with its own salt: the stored SHA-256 of the parent does not yield this key.
const successorKey = (parent: string): Uint8Array =>
  new Uint8Array(hkdfSync('sha256', parent, 'tessera refresh successor', 'v1', 32))

export const sealSuccessor = (parent: string, successor: string): Promise<string> =>
  seal(successorKey(parent), successor)

export const unsealSuccessor = (parent: string, sealed: string): Promise<string> =>
  unseal(successorKey(parent), sealed)
