import type { AccessClaims } from '../claims.js'

/** What the verifier remembers of a token that passed every check. */
export interface CachedToken {
  /** A fresh copy of the verified claims on each call, so no request sees another's edits. */
  readonly claims: () => AccessClaims
  /** `exp`, seconds since the epoch. */
  readonly exp: number
  /** `nbf`, seconds since the epoch, when the token has one. */
  readonly nbf: number | undefined
  /** When the entry stops standing in for a full check, in milliseconds since the epoch. */
  readonly reverifyAt: number
}

/** Counters of a verified-token cache, for tuning `cacheSize`. */
export interface TokenCacheStats {
  /** Entries held now. */
  size: number
  /** The most entries it holds (`cacheSize`); 0 when the cache is off. */
  maxSize: number
  /** Tokens answered from the cache, without a signature check, since the verifier was built. */
  hits: number
  /** Tokens the cache could not answer (unknown, or due for a full check again), since then. */
  misses: number
}

/** A bounded map from the exact token string to its {@link CachedToken}. */
export interface TokenCache {
  /** False with a size of 0: `set` would keep nothing, so there is no entry worth building. */
  readonly enabled: boolean
  /** The entry of `token` if it may still stand in for a full check at `nowMs` (ms since the epoch). */
  get(token: string, nowMs: number): CachedToken | undefined
  set(token: string, entry: CachedToken): void
  delete(token: string): void
  stats(): TokenCacheStats
}

/**
 * The map key of a token: its last characters, which are signature bytes (12 base64url characters,
 * 72 bits: two of 10,000 genuine tokens end alike with odds near 1e-14). Each request brings a new
 * string, and a `Map` hashes every character of it: for a 791-character RS256 token that was most
 * of what a hit cost. Twelve, not more: V8 copies a slice this short into a string of its own,
 * which hashes about twice as fast as a longer slice that points into the request's header. A held
 * entry answers only the exact token it was verified for (compared in full), so a forged token
 * with a borrowed ending is a miss and gets the full check. Nobody can aim at an entry without
 * knowing its token's ending.
 */
const keyOf = (token: string): string => token.slice(-12)

/**
 * A first-in, first-out cache of at most `maxSize` entries (0: remembers nothing). A hit does not
 * reorder anything, so it costs one `Map` lookup; a busy token that reaches the end of the line is
 * dropped and costs one more full check. The order lives in a ring of keys, not in the `Map`'s own
 * order: V8 slows down (linearly in the size) both when iterating a `Map` whose front is full of
 * deleted entries and when one key is deleted and re-added again and again, as an LRU would do.
 */
export function createTokenCache(maxSize: number): TokenCache {
  // each entry owns one slot of the ring; a slot is cleared when its entry goes
  const entries = new Map<string, { token: string; entry: CachedToken; slot: number }>()
  // grows to maxSize as entries come, then wraps around
  const ring: Array<string | undefined> = []
  let next = 0
  let hits = 0
  let misses = 0

  const remove = (token: string): void => {
    const key = keyOf(token)
    const held = entries.get(key)
    if (held === undefined || held.token !== token) return
    entries.delete(key)
    ring[held.slot] = undefined
  }

  return {
    enabled: maxSize > 0,
    get(token, nowMs) {
      const held = maxSize === 0 ? undefined : entries.get(keyOf(token))
      // not `nowMs >= reverifyAt`: an invalid date (NaN) must not make a hit
      if (held === undefined || held.token !== token || !(nowMs < held.entry.reverifyAt)) {
        if (held?.token === token) remove(token)
        misses++
        return undefined
      }
      hits++
      return held.entry
    },
    set(token, entry) {
      if (maxSize === 0) return
      const key = keyOf(token)
      const held = entries.get(key)
      // verified again (concurrent misses, or due for a full check): same slot, new entry; two
      // genuine tokens ending alike (never, in practice) take turns in the slot
      if (held !== undefined) {
        held.token = token
        held.entry = entry
        return
      }
      const oldest = ring[next]
      if (oldest !== undefined) entries.delete(oldest)
      entries.set(key, { token, entry, slot: next })
      ring[next] = key
      next = (next + 1) % maxSize
    },
    delete: remove,
    stats: () => ({ size: entries.size, maxSize, hits, misses }),
  }
}
