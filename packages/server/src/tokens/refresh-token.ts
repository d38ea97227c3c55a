import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import { TesseraError } from '../errors.js'
import { unseal } from '../keys/secret.js'

const TOKEN_BYTES = 32

/** 32 random bytes, base64url: 256 bits, 43 characters. */
export const newRefreshToken = (): string => randomBytes(TOKEN_BYTES).toString('base64url')

const SHAPE = /^[A-Za-z0-9_-]{43}$/

/** True when `value` could be a token we issued; anything else is refused without a lookup. */
export const isWellFormedRefreshToken = (value: string): boolean => SHAPE.test(value)

/** The only form in which a refresh token is stored. */
export const hashRefreshToken = (token: string): Buffer => createHash('sha256').update(token).digest()

// The successor is kept sealed under a key only the holder of the parent token can derive, so a
// repeat inside the grace window gets the same successor back while the database never holds a
// usable token. HKDF with its own salt: the stored SHA-256 of the parent does not yield this key.
const successorKey = (parent: string): Buffer =>
  Buffer.from(hkdfSync('sha256', parent, 'tessera refresh successor', 'v1', 32))

// AES-256-GCM, the cipher of the compact JWE (dir, A256GCM) this replaced, through node:crypto:
// synchronous, at a sixth of the CPU of jose's WebCrypto round trip, on every rotation
// (`npm run bench:sign`). Stored as `g1.` + base64url(iv ‖ ciphertext ‖ tag).
const SEALED = 'g1.'
const IV_BYTES = 12
const TAG_BYTES = 16

export const sealSuccessor = (parent: string, successor: string): string =>
  sealWith(parent, successor, randomBytes(IV_BYTES))

/**
 * A new refresh token to succeed `parent`, and it sealed ({@link sealSuccessor}): the token and the
 * IV come from one call to the CSPRNG, which costs about as much as the AES itself, every rotation.
 */
export function newSuccessor(parent: string): { successor: string; sealed: string } {
  const random = randomBytes(TOKEN_BYTES + IV_BYTES)
  const successor = random.toString('base64url', 0, TOKEN_BYTES)
  return { successor, sealed: sealWith(parent, successor, random.subarray(TOKEN_BYTES)) }
}

function sealWith(parent: string, successor: string, iv: Uint8Array): string {
  const cipher = createCipheriv('aes-256-gcm', successorKey(parent), iv, { authTagLength: TAG_BYTES })
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
  return SEALED + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')
}

/** The successor {@link sealSuccessor} sealed; throws if `parent` is not its parent or it was altered. */
export async function unsealSuccessor(parent: string, sealed: string): Promise<string> {
  // a JWE, sealed by a version before this one: a repeat that raced an upgrade
  if (!sealed.startsWith(SEALED)) return unseal(new Uint8Array(successorKey(parent)), sealed)
  const bytes = Buffer.from(sealed.slice(SEALED.length), 'base64url')
  if (bytes.length < IV_BYTES + TAG_BYTES)
    throw new TesseraError('INTERNAL', { reason: 'sealed successor too short' })
  const decipher = createDecipheriv('aes-256-gcm', successorKey(parent), bytes.subarray(0, IV_BYTES), {
    authTagLength: TAG_BYTES,
  })
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
  const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)
  return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')
}
