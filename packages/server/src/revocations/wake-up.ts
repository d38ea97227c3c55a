/** The Redis channel on which instances wake each other when a revocation event was written. */
export const revocationChannel = (redisPrefix: string): string => `${redisPrefix}revocations`

/**
 * Publishes one wake-up from a process that follows no feed (a CLI command that disabled a user,
 * changed roles, revoked a client): the running instances read the new events at once rather than
 * at their next poll. Best effort: when Redis cannot be reached within `timeoutMs` the instances
 * still find the events at their next poll (every second with Redis), so this answers false and
 * the command succeeds.
 */
export async function publishWakeUp(
  redisUrl: string,
  redisPrefix: string,
  timeoutMs = 2000,
): Promise<boolean> {
  // ioredis is loaded only by the commands that revoked something
  const { Redis } = await import('ioredis')
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.publish(revocationChannel(redisPrefix), '1')
    return true
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}
