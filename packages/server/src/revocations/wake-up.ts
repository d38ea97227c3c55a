import { within } from '../within.js'

/** The Redis channel on which instances wake each other when a revocation event was written. */
export const revocationChannel = (redisPrefix: string): string => `${redisPrefix}revocations`

/**
 * Publishes one wake-up from a process that follows no feed (a CLI command that disabled a user,
 * changed roles, revoked a client): the running instances read the new events at once rather than
 * at their next poll. Best effort, and done within `timeoutMs` in all: when Redis cannot be
 * reached, or is slow, the instances still find the events at their next poll (every second with
 * Redis), so this answers false and the command succeeds.
 */
export async function publishWakeUp(
  redisUrl: string,
  redisPrefix: string,
  timeoutMs = 2000,
): Promise<boolean> {
  let finished = false
  let disconnect = () => {}
  const publish = async () => {
    // ioredis is loaded only by the commands that revoked something
    const { Redis } = await import('ioredis')
    // timed out while loading: no connection that nothing would close
    if (finished) return
    const client = new Redis(redisUrl, {
      lazyConnect: true,
      // PUBLISH needs no INFO first, and a Redis still loading its data would hold the ready check
      enableReadyCheck: false,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    client.on('error', () => {})
    disconnect = () => client.disconnect()
    await client.connect()
    await client.publish(revocationChannel(redisPrefix), '1')
  }
  try {
    await within(publish(), timeoutMs, 'redis publish timed out')
    return true
  } catch {
    return false
  } finally {
    finished = true
    disconnect()
  }
}
