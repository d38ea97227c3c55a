import { type Answer, keepAliveClient } from './keep-alive-client.js'
import { quantile } from './stats.js'

/**
 * A small closed-loop load for refresh rotation, which autocannon cannot drive: each refresh spends
 * its token, so each connection must send the successor it was just given. `connections` workers,
 * each with its own keep-alive connection ({@link keepAliveClient}) and its own session, POST
 * /auth/refresh back to back until the duration is over. A worker whose session breaks (an error
 * or a non-200) takes a spare one.
 */
export interface RefreshLoadOptions {
  url: string
  connections: number
  /** Seconds. */
  duration: number
  /** Current refresh tokens, one per session; taken from and given back to (successors). */
  pool: string[]
}

export interface RefreshLoadResult {
  rotationsPerSecond: number
  /** Milliseconds. */
  p50: number
  p99: number
  rotations: number
  failed: number
  statuses: Record<string, number>
}

const TIMEOUT_MS = 10_000

export async function refreshLoad(options: RefreshLoadOptions): Promise<RefreshLoadResult> {
  const url = new URL('/auth/refresh', options.url)
  if (url.hostname !== '127.0.0.1') throw new Error('load goes only to 127.0.0.1')
  if (options.pool.length < options.connections) {
    throw new Error(`${options.connections} connections need as many sessions; have ${options.pool.length}`)
  }
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  let failed = 0
  const started = performance.now()
  const end = started + options.duration * 1000

  const worker = async () => {
    const client = keepAliveClient(Number(url.port), TIMEOUT_MS)
    let token = options.pool.pop()
    try {
      while (token !== undefined && performance.now() < end) {
        const sent = performance.now()
        let answer: Answer
        try {
          answer = await client.post(url.pathname, JSON.stringify({ refreshToken: token }))
        } catch {
          answer = { status: 0, body: '' }
        }
        statuses[answer.status || 'error'] = (statuses[answer.status || 'error'] ?? 0) + 1
        if (answer.status === 200) {
          latencies.push(performance.now() - sent)
          token = (JSON.parse(answer.body) as { refreshToken: string }).refreshToken
        } else {
          failed++
          token = options.pool.pop()
        }
      }
    } finally {
      client.close()
      if (token !== undefined) options.pool.push(token)
    }
  }
  await Promise.all(Array.from({ length: options.connections }, worker))
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return {
    rotationsPerSecond: latencies.length / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    rotations: latencies.length,
    failed,
    statuses,
  }
}
