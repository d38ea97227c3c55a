/** Resolves after `ms` of real time: for pacing a client, never to let the code's time pass. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined, failing after
 * `timeoutMs`: waits for an event, as long as it takes and no longer, where a fixed sleep would
 * guess a duration (too short on a busy machine, too long everywhere else).
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(intervalMs)
  }
}
