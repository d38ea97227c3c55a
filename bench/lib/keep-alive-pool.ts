import { connect, type Socket } from 'node:net'

/** One answer of {@link KeepAlivePool.request}. */
export interface PoolAnswer {
  status: number
  body: string
}

export interface PoolRequest {
  method: 'GET' | 'POST'
  path: string
  /** Extra headers (`authorization`, `user-agent`); `host`, `content-type` and `content-length` are set here. */
  headers?: Readonly<Record<string, string>>
  /** A JSON body, sent with `content-type: application/json`. */
  json?: string
}

export interface KeepAlivePool {
  /** Sends one request on an idle connection (or a new one) and resolves with the answer. */
  request(request: PoolRequest): Promise<PoolAnswer>
  /** Connections open now (busy and idle). */
  readonly open: number
  /** Connections opened so far, including those closed since. */
  readonly opened: number
  close(): void
}

interface Connection {
  send(head: string): Promise<PoolAnswer>
  readonly alive: boolean
  close(): void
}

// answers that never carry a body, so they may come without Content-Length
const BODYLESS = new Set([204, 304])

/**
 * One keep-alive HTTP/1.1 connection to 127.0.0.1, one request at a time, as lean as
 * keep-alive-client.ts (whose reasons hold here: on two cores a node:http client takes CPU from the
 * server), plus GET, headers and bodyless 204 answers. Anything else it does not expect (chunked
 * bodies, a closed socket, a timeout) rejects and closes the connection.
 */
function openConnection(port: number, timeoutMs: number): Connection {
  let buffer: Buffer = Buffer.alloc(0)
  let closed = false
  let waiting: { resolve: (answer: PoolAnswer) => void; reject: (error: Error) => void } | undefined
  const socket: Socket = connect({ host: '127.0.0.1', port, noDelay: true })

  const close = () => {
    closed = true
    socket.destroy()
  }
  const fail = (error: Error) => {
    close()
    const pending = waiting
    waiting = undefined
    pending?.reject(error)
  }
  const parse = () => {
    const headEnd = buffer.indexOf('\r\n\r\n')
    if (headEnd === -1 || !waiting) return
    const head = buffer.toString('latin1', 0, headEnd)
    const status = Number(head.slice(9, 12))
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1]
    if (length === undefined && !BODYLESS.has(status)) {
      fail(new Error('an answer without Content-Length'))
      return
    }
    const bodyEnd = headEnd + 4 + Number(length ?? 0)
    if (buffer.length < bodyEnd) return
    const answer = { status, body: buffer.toString('utf8', headEnd + 4, bodyEnd) }
    buffer = buffer.subarray(bodyEnd)
    const pending = waiting
    waiting = undefined
    if (/\r\nconnection: *close/i.test(head)) close()
    pending.resolve(answer)
  }
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
    parse()
  })
  socket.on('error', fail)
  socket.on('close', () => fail(new Error('connection closed')))

  return {
    get alive() {
      return !closed
    },
    close,
    send(head) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => fail(new Error('timeout')), timeoutMs)
        waiting = {
          resolve: (answer) => {
            clearTimeout(timer)
            resolve(answer)
          },
          reject: (error) => {
            clearTimeout(timer)
            reject(error)
          },
        }
        socket.write(head)
      })
    },
  }
}

/**
 * Keep-alive connections to one port on 127.0.0.1, for an open-model load: each request takes an
 * idle connection or opens one, and gives it back when answered. The caller bounds how many
 * requests are in flight, which bounds the connections.
 */
export function keepAlivePool(port: number, timeoutMs: number): KeepAlivePool {
  const idle: Connection[] = []
  let open = 0
  let opened = 0
  const all = new Set<Connection>()

  return {
    get open() {
      return open
    },
    get opened() {
      return opened
    },
    async request({ method, path, headers = {}, json }) {
      let connection = idle.pop()
      while (connection && !connection.alive) {
        all.delete(connection)
        open--
        connection = idle.pop()
      }
      if (!connection) {
        connection = openConnection(port, timeoutMs)
        all.add(connection)
        open++
        opened++
      }
      let head = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`
      for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`
      head +=
        json === undefined
          ? '\r\n'
          : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`
      try {
        const answer = await connection.send(head)
        if (connection.alive) idle.push(connection)
        else {
          all.delete(connection)
          open--
        }
        return answer
      } catch (error) {
        // the connection is closed by now; the next request opens another
        all.delete(connection)
        open--
        throw error
      }
    },
    close() {
      for (const connection of all) connection.close()
      all.clear()
      idle.length = 0
      open = 0
    },
  }
}
