import { randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { vi } from 'vitest'

/** A Standard Webhooks secret as an operator makes one: `whsec_` and base64 of 32 random bytes. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

/** One request the receiver got, with what the `standardwebhooks` package made of it. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders
  body: string
  /** The payload `Webhook.verify` answered, or undefined when it refused the request. */
  verified: { type: string; timestamp: string; data: Record<string, unknown> } | undefined
  /** Why `Webhook.verify` refused it. */
  verifyError: string | undefined
  /** What the receiver answered; 0 when it did not. */
  status: number
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hook` */
  url: string
  /** Every request so far, the refused (500) ones too. */
  received: ReceivedWebhook[]
  /** The verified events it accepted (answered 204). */
  accepted(): NonNullable<ReceivedWebhook['verified']>[]
  /**
   * The status it answers from now on: 204, 500 for a receiver that is broken, `'never'` (it
   * hangs) or `'endless'` (200, then a body that never ends).
   */
  answer(status: Answer): void
  /** Stops listening: connections are refused until {@link start}. */
  stop(): Promise<void>
  /** Listens again on the same port. */
  start(): Promise<void>
}

/**
 * A webhook receiver on 127.0.0.1 that checks every request with the `standardwebhooks` package's
 * `Webhook.verify`, as the docs tell receivers to. `now` is the time it verifies at (the test's
 * clock): the package refuses a timestamp more than 5 minutes from its own `Date.now()`.
 */
type Answer = number | 'never' | 'endless'

/** Writes to `response` until the other side goes away. */
function writeForever(response: ServerResponse): void {
  const chunk = Buffer.alloc(16 * 1024, 'x')
  const more = () => {
    while (!response.destroyed && response.write(chunk)) {}
  }
  response.on('drain', more)
  more()
}

export async function startWebhookReceiver(secret: string, now: () => Date): Promise<WebhookReceiver> {
  const webhook = new Webhook(secret)
  const received: ReceivedWebhook[] = []
  let status: Answer = 204
  let server: Server | undefined
  let port = 0

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const created = createServer((request, response) => {
        const chunks: Buffer[] = []
        request.on('data', (chunk: Buffer) => chunks.push(chunk))
        request.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          let verified: ReceivedWebhook['verified']
          let verifyError: string | undefined
          // the package reads Date.now(): it sees the test's clock for this one synchronous call
          vi.setSystemTime(now())
          try {
            verified = webhook.verify(body, headersOf(request.headers)) as ReceivedWebhook['verified']
          } catch (error) {
            verifyError = (error as Error).message
          } finally {
            vi.useRealTimers()
          }
          const answered = verifyError === undefined ? status : 400
          received.push({
            headers: request.headers,
            body,
            verified,
            verifyError,
            status: answered === 'never' ? 0 : answered === 'endless' ? 200 : answered,
          })
          // a receiver that hangs keeps the request open until the sender gives up
          if (answered === 'endless') writeForever(response.writeHead(200))
          else if (answered !== 'never') response.writeHead(answered).end()
        })
      })
      created.once('error', reject)
      created.listen(port, '127.0.0.1', () => {
        port = (created.address() as AddressInfo).port
        server = created
        resolve()
      })
    })
  await listen()

  return {
    get url() {
      return `http://127.0.0.1:${port}/hook`
    },
    received,
    accepted: () =>
      received.flatMap((request) =>
        request.status >= 200 && request.status < 300 && request.verified ? [request.verified] : [],
      ),
    answer(next) {
      status = next
    },
    stop: () =>
      new Promise<void>((resolve) => {
        const closing = server
        server = undefined
        if (!closing) return resolve()
        closing.close(() => resolve())
        closing.closeAllConnections()
      }),
    start: listen,
  }
}

function headersOf(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') flat[name] = value
  }
  return flat
}
