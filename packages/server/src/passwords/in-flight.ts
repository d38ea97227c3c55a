import type { PasswordHasher } from './hasher.js'

/** What counts work in flight: the `tessera_password_hash_in_flight` gauge. */
export interface InFlightGauge {
  inc(): void
  dec(): void
}

/**
 * Wraps a hasher so the gauge counts hashes and verifications running at once. Near the libuv
 * thread-pool size (UV_THREADPOOL_SIZE, default 4) logins start to queue: the saturation alert
 * watches this.
 */
export function countHashesInFlight(hasher: PasswordHasher, gauge: InFlightGauge): PasswordHasher {
  const counted = async <T>(work: () => Promise<T>): Promise<T> => {
    gauge.inc()
    try {
      return await work()
    } finally {
      gauge.dec()
    }
  }
  return {
    hash: (password) => counted(() => hasher.hash(password)),
    verify: (storedHash, password) => counted(() => hasher.verify(storedHash, password)),
    verifyDummy: (password) => counted(() => hasher.verifyDummy(password)),
  }
}
