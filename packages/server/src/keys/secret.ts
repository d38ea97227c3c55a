import { hkdfSync, randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CompactEncrypt, compactDecrypt } from 'jose'

/** A 256-bit key derived from a secret for one purpose, so no two uses share a key. */
export function deriveKey(secret: string | Uint8Array, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'tessera', purpose, 32))
}

/** Encrypts text as a compact JWE (`dir`, A256GCM): authenticated, with a fresh IV each time. */
export async function seal(key: Uint8Array, plaintext: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .encrypt(key)
}

/** Decrypts what {@link seal} produced; throws if the key is wrong or the text was altered. */
export async function unseal(key: Uint8Array, jwe: string): Promise<string> {
  const { plaintext } = await compactDecrypt(jwe, key, {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM'],
  })
  return new TextDecoder().decode(plaintext)
}

export interface DevSecret {
  secret: string
  /** True when this call generated the file. */
  created: boolean
  path: string
}

/** Outside production without TESSERA_SECRET: a random secret kept in the data dir (mode 0600). */
export async function loadOrCreateDevSecret(dataDir: string): Promise<DevSecret> {
  const path = join(dataDir, 'secret')
  try {
    return { secret: (await readFile(path, 'utf8')).trim(), created: false, path }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await mkdir(dataDir, { recursive: true })
  const secret = randomBytes(48).toString('base64url')
  try {
    // 'wx': if another process created it meanwhile, use theirs
    await writeFile(path, `${secret}\n`, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateDevSecret(dataDir)
    throw error
  }
  await chmod(path, 0o600)
  return { secret, created: true, path }
}
