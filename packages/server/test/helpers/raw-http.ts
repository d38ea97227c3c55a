import { connect } from 'node:net'

/** Sends `text` as is and resolves with everything the server wrote until it closed the socket. */
export function rawRequest(port: number, text: string | string[], gapMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
    const parts = Array.isArray(text) ? text : [text]
    let index = 0
    const writeNext = () => {
      const part = parts[index++]
      if (part === undefined || socket.destroyed) return
      socket.write(part)
      if (index < parts.length) setTimeout(writeNext, gapMs)
    }
    socket.on('connect', writeNext)
  })
}
