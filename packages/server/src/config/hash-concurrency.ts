import { availableParallelism } from 'node:os'

/**
 * As many hashes at once as there are cores, and one libuv thread kept free of argon2 for the
 * signatures and file work that share the pool (`threadPool`: UV_THREADPOOL_SIZE, default 4).
 */
export function hashConcurrency(threadPool: number, processes = 1): number {
  // each process has a thread pool of its own; the cores are shared by all of them
  return Math.max(1, Math.min(Math.floor(availableParallelism() / processes), threadPool - 1))
}

/** {@link hashConcurrency} for the thread pool `env` gives Node, shared by `processes` processes. */
export function defaultHashConcurrency(
  env: Readonly<Record<string, string | undefined>>,
  processes = 1,
): number {
  return hashConcurrency(Number(env.UV_THREADPOOL_SIZE) || 4, processes)
}
