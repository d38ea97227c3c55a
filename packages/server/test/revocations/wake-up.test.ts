import { createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { publishWakeUp } from '../../src/revocations/wake-up.js'

/*
 * The CLI's wake-up is best effort and bounded: a command must end however Redis behaves. (With a
 * real Redis, test/cli/users-redis.test.ts.)
 */

let server: Server | undefined
let accepted: Socket[] = []
afterEach(async () => {
  for (const socket of accepted) socket.destroy()
  accepted = []
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  server = undefined
})

/** A TCP server that accepts connections and never answers: Redis hung, or a wrong port. */
async function silentServer(): Promise<{ url: string; sockets: Socket[] }> {
  const sockets: Socket[] = []
  server = createServer((socket) => {
    sockets.push(socket)
    accepted.push(socket)
    socket.on('error', () => {})
    // read (and drop) what the client sends, so that its hang-up is seen
    socket.resume()
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { url: `redis://127.0.0.1:${address.port}`, sockets }
}

describe('publishWakeUp', () => {
  it('gives up within its time limit on a Redis that never answers, and closes its connection', async () => {
    const silent = await silentServer()
    const started = performance.now()
    expect(await publishWakeUp(silent.url, 'wake:', 300)).toBe(false)
    expect(performance.now() - started).toBeLessThan(2000)
    expect(silent.sockets).toHaveLength(1)
    // the client hung up: the server's side of the socket ends
    const socket = silent.sockets[0] as Socket
    if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve))
    expect(socket.closed).toBe(true)
  })

  it('answers false at once when nothing listens', async () => {
    expect(await publishWakeUp('redis://127.0.0.1:1', 'wake:', 2000)).toBe(false)
  })
})
