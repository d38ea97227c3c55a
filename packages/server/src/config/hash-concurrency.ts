import { availableParallelism } from 'node:os'

/**
 * Hashes at once. One process: one more than the cores, so no core idles while the event loop
 * hands a finished hash's turn to the next (bench/hash-frontier.ts on 2 cores: about a tenth more
 * logins under a flood than as many as the cores, the cheap route's p99 still under 15 ms). With
 * `processes` workers sharing the cores, each takes its share and no more. At most
 * `threadPool` − 1 (UV_THREADPOOL_SIZE, default 4): one libuv thread stays free of argon2 for the
 * signatures and file work that share the pool.
 */
export function hashConcurrency(threadPool: number, processes = 1): number {
  const cores = availableParallelism()
  const share = processes === 1 ? cores + 1 : Math.floor(cores / processes)
  return Math.max(1, Math.min(share, threadPool - 1))
}

/** {@link hashConcurrency} for the thread pool `env` gives Node, shared by `processes` processes. */
export function defaultHashConcurrency(
  env: Readonly<Record<string, string | undefined>>,
  processes = 1,
): number {
  return hashConcurrency(Number(env.UV_THREADPOOL_SIZE) || 4, processes)
}
