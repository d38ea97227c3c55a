import { connect, createServer, type Socket } from 'node:net'

/** A TCP proxy a fault test stands between the server and PostgreSQL or Redis, then breaks. */
export interface TcpProxy {
  port: number
  /** `host:port` with the host and port swapped for the proxy's. */
  url(target: string): string
  /** An outage: every open connection is reset, new ones are reset as they arrive. */
  cut(): void
  /**
   * A network that drops packets: nothing is forwarded any more, open connections stay open and
   * new ones are accepted but never answered. Only a timeout gets a client out.
   */
  blackhole(): void
  /** Service again. Connections from the outage are reset: their protocol state is lost. */
  restore(): void
  /** Connections accepted since the proxy started. */
  accepted(): number
  close(): Promise<void>
}

type Mode = 'open' | 'cut' | 'blackhole'

/** Listens on a free port of 127.0.0.1 and forwards to `targetHost:targetPort` while open. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let mode: Mode = 'open'
  let accepted = 0
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    // a reset peer is the point of this proxy, not a test failure
    socket.on('error', () => {})
  }
  const resetAll = () => {
    for (const socket of sockets) socket.resetAndDestroy()
    sockets.clear()
  }

  const server = createServer((client) => {
    accepted++
    track(client)
    if (mode === 'cut') {
      client.resetAndDestroy()
      return
    }
    // blackhole: accepted and held, never forwarded
    if (mode === 'blackhole') return
    const upstream = connect(targetPort, targetHost)
    track(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    // one side gone, the other goes too (while the proxy is open; a blackhole keeps both)
    client.on('close', () => {
      if (mode === 'open') upstream.destroy()
    })
    upstream.on('close', () => {
      if (mode === 'open') client.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address')
  const port = address.port

  return {
    port,
    url(target) {
      const parsed = new URL(target)
      parsed.hostname = '127.0.0.1'
      parsed.port = String(port)
      return parsed.href
    },
    cut() {
      mode = 'cut'
      resetAll()
    },
    blackhole() {
      mode = 'blackhole'
      for (const socket of sockets) {
        socket.unpipe()
        socket.pause()
      }
    },
    restore() {
      if (mode === 'blackhole') resetAll()
      mode = 'open'
    },
    accepted: () => accepted,
    async close() {
      resetAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
