/**
 * Where the client keeps the refresh token in `tokenDelivery: 'body'` mode (Node, native apps,
 * CLIs). Each method may be synchronous or return a promise. Cookie mode never uses it: there the
 * refresh token lives only in the server's httpOnly cookie.
 */
export interface RefreshTokenStorage {
  /** The stored refresh token, or `null` when there is none. */
  get(): Promise<string | null> | string | null
  /** Replaces the stored refresh token (after login, register and every rotation). */
  set(token: string): Promise<void> | void
  /** Forgets the refresh token (logout, or a refresh the server refused). */
  delete(): Promise<void> | void
}

/**
 * A refresh-token storage in this process's memory: the default. The session ends with the
 * process; pass your own storage (a keychain, an encrypted file) to keep it across restarts.
 */
export function memoryStorage(initial: string | null = null): RefreshTokenStorage {
  let token = initial
  return {
    get: () => token,
    set(next) {
      token = next
    },
    delete() {
      token = null
    },
  }
}
