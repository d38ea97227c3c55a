import { connect, type Socket } from 'node:net'

/** One answer of {@link KeepAliveClient.post}. */
export interface Answer {
  status: number
  body: string
}

export interface KeepAliveClient {
  /** POSTs `json` to `path` and resolves with the answer; one request at a time. */
  post(path: string, json: string): Promise<Answer>
  close(): void
}

/**
 * One keep-alive HTTP/1.1 connection to 127.0.0.1 that sends one request at a time, as lean as a
 * load generator should be: a node:http client costs about as much CPU per request as the server
 * spends on a refresh besides its signature, and on a 2-core machine every cycle it spends is
 * taken from the server or PostgreSQL (autocannon and pgbench are lean in the same way). It reads
 * only what the server under test sends: a status line, headers with `Content-Length`, a body.
 * Anything else (chunked bodies, a closed socket, a timeout) rejects, and the next request opens a
 * new connection.
 */
export function keepAliveClient(port: number, timeoutMs: number): KeepAliveClient {
  let socket: Socket | undefined
  let buffer: Buffer = Buffer.alloc(0)
  let waiting: { resolve: (answer: Answer) => void; reject: (error: Error) => void } | undefined

  const close = () => {
    socket?.destroy()
    socket = undefined
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
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1]
    if (length === undefined) {
      fail(new Error('an answer without Content-Length'))
      return
    }
    const bodyEnd = headEnd + 4 + Number(length)
    if (buffer.length < bodyEnd) return
    const answer = { status: Number(head.slice(9, 12)), body: buffer.toString('utf8', headEnd + 4, bodyEnd) }
    buffer = buffer.subarray(bodyEnd)
    const pending = waiting
    waiting = undefined
    if (/\r\nconnection: *close/i.test(head)) close()
    pending.resolve(answer)
  }
  const open = (): Socket => {
    const opened = connect({ host: '127.0.0.1', port, noDelay: true })
    opened.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
      parse()
    })
    opened.on('error', fail)
    opened.on('close', () => fail(new Error('connection closed')))
    socket = opened
    buffer = Buffer.alloc(0)
    return opened
  }

  return {
    post(path, json) {
      const connection = socket ?? open()
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
        connection.write(
          `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
            `content-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
        )
      })
    },
    close,
  }
}
