import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server'

/** One message as the test server received it, decoded just enough for assertions. */
export interface ReceivedMail {
  /** The SMTP envelope, as the client sent MAIL FROM and RCPT TO. */
  envelope: { from: string; to: string[] }
  /** Header values, unfolded and with encoded words decoded; keys lower case. */
  headers: Map<string, string>
  from: string
  to: string
  subject: string
  /** The decoded text/plain part, '' if none. */
  text: string
  /** The decoded text/html part, '' if none. */
  html: string
  /** The message exactly as received, after dot-unstuffing. */
  raw: string
  /** Whether the session had been upgraded to TLS (STARTTLS) when the message came in. */
  secure: boolean
}

export interface SmtpServerOptions {
  /**
   * Offer STARTTLS, with the self-signed certificate built into smtp-server (its key is public:
   * only for tests). Default false: no STARTTLS and no AUTH, plain text only.
   */
  starttls?: boolean
}

export interface TestSmtpServer {
  /** `smtp://127.0.0.1:<port>` */
  url: string
  messages: ReceivedMail[]
  /** Resolves with the first message, already received or still to come, that matches. */
  waitForMail(predicate?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>
  /** Rejects the next `count` messages after DATA with `responseCode` (default 451, try again later). */
  failNext(count: number, responseCode?: number): void
  close(): Promise<void>
}

/** An SMTP server on loopback that keeps what it receives. */
export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = []
  const listeners = new Set<(mail: ReceivedMail) => void>()
  let failures: { count: number; responseCode: number } = { count: 0, responseCode: 451 }

  const server = new SMTPServer({
    // also keeps smtp-server from warning on stderr about its built-in certificate
    logger: false,
    authOptional: true,
    disabledCommands: options.starttls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        if (failures.count > 0) {
          failures = { ...failures, count: failures.count - 1 }
          const error: Error & { responseCode?: number } = new Error('test server refuses this message')
          error.responseCode = failures.responseCode
          callback(error)
          return
        }
        const mail = parseMail(Buffer.concat(chunks).toString('utf8'), session)
        messages.push(mail)
        for (const listener of listeners) listener(mail)
        callback()
      })
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.server.address() as AddressInfo

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitForMail(predicate = () => true, timeoutMs = 5000) {
      const found = messages.find(predicate)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener)
          reject(new Error(`no matching mail within ${timeoutMs} ms (${messages.length} received)`))
        }, timeoutMs)
        const listener = (mail: ReceivedMail) => {
          if (!predicate(mail)) return
          clearTimeout(timer)
          listeners.delete(listener)
          resolve(mail)
        }
        listeners.add(listener)
      })
    },
    failNext(count, responseCode = 451) {
      failures = { count, responseCode }
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** An smtp:// URL to a loopback port nobody listens on: every connection is refused. */
export async function unusedSmtpUrl(): Promise<string> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return `smtp://127.0.0.1:${port}`
}

/** The first link with a `token` query parameter in the decoded text. */
export function linkIn(mail: ReceivedMail): string | undefined {
  return /https?:\/\/[^\s<>"]*[?&]token=[^\s<>"]+/.exec(mail.text)?.[0]
}

function parseMail(raw: string, session: SMTPServerSession): ReceivedMail {
  const { headers } = splitEntity(raw)
  const parts = leafParts(raw)
  return {
    envelope: {
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
    },
    headers,
    from: headers.get('from') ?? '',
    to: headers.get('to') ?? '',
    subject: headers.get('subject') ?? '',
    text: parts.find((part) => part.type === 'text/plain')?.content ?? '',
    html: parts.find((part) => part.type === 'text/html')?.content ?? '',
    raw,
    secure: session.secure,
  }
}

function splitEntity(raw: string): { headers: Map<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n')
  const head = end === -1 ? raw : raw.slice(0, end)
  const body = end === -1 ? '' : raw.slice(end + 4)
  const headers = new Map<string, string>()
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    if (!headers.has(name)) headers.set(name, decodeWords(line.slice(colon + 1).trim()))
  }
  return { headers, body }
}

/** The non-multipart parts of a message, depth first, with their bodies decoded. */
function leafParts(raw: string): Array<{ type: string; content: string }> {
  const { headers, body } = splitEntity(raw)
  const contentType = headers.get('content-type') ?? 'text/plain'
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  if (type.startsWith('multipart/')) {
    const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1]
    if (!boundary) return []
    const sections = body.split(`--${boundary}`).slice(1)
    const parts: Array<{ type: string; content: string }> = []
    for (const section of sections) {
      if (section.startsWith('--')) break
      parts.push(...leafParts(section.replace(/^\r\n/, '').replace(/\r\n$/, '')))
    }
    return parts
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase()
  return [{ type, content: decodeBody(body, encoding) }]
}

function decodeBody(body: string, encoding: string): string {
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body)
  return body
}

function decodeQuotedPrintable(value: string): string {
  // a soft line break (= at the end of a line) only wraps a long line; it is not in the text
  const joined = value.replace(/=\r?\n/g, '')
  const bytes: number[] = []
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3)
    if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(joined[i] ?? '', 'utf8'))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** RFC 2047 encoded words (`=?UTF-8?Q?...?=`), as nodemailer writes non-ASCII headers. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_match, _charset: string, kind: string, text: string) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQuotedPrintable(text.replace(/_/g, ' ')),
    )
}
