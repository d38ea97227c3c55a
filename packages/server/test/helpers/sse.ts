/** One message of an event stream as a subscriber sees it: comments are kept, to count pings. */
export interface StreamMessage {
  id?: string
  event?: string
  data?: string
  retry?: string
  comment?: string
}

export interface EventStream {
  status: number
  headers: Headers
  /** The body of a refused request (problem+json). */
  body?: string
  /** Every message so far, in order. */
  messages: StreamMessage[]
  /** The data of the `event:` messages so far, parsed, with their id and type. */
  events(): { id: string | undefined; event: string; data: Record<string, unknown> }[]
  /** Resolves once `predicate` holds over the messages, polling every 20 ms; rejects after `timeoutMs`. */
  until(predicate: (stream: EventStream) => boolean, timeoutMs?: number): Promise<void>
  /** Resolves when the server ended the stream. */
  ended: Promise<void>
  close(): void
}

/**
 * Opens a Server-Sent Events stream with fetch and splits it into messages, plainly (each line
 * `field: value`, messages separated by a blank line), as the feed writes them: enough to check
 * what the server sends, which is what these tests are about.
 */
export async function openEventStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<EventStream> {
  const controller = new AbortController()
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  })
  const messages: StreamMessage[] = []
  let resolveEnded: () => void = () => {}
  const ended = new Promise<void>((resolve) => {
    resolveEnded = resolve
  })
  const stream: EventStream = {
    status: response.status,
    headers: response.headers,
    messages,
    events: () =>
      messages
        .filter((message) => message.event !== undefined)
        .map((message) => ({
          id: message.id,
          event: message.event ?? '',
          data: JSON.parse(message.data ?? '{}') as Record<string, unknown>,
        })),
    async until(predicate, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs
      while (!predicate(stream)) {
        if (performance.now() > deadline) {
          throw new Error(`the stream did not get there in ${timeoutMs} ms: ${JSON.stringify(messages)}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    ended,
    close: () => controller.abort(),
  }
  if (response.status !== 200 || !response.body) {
    stream.body = await response.text()
    resolveEnded()
    return stream
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  void (async () => {
    let buffer = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end = buffer.indexOf('\n\n')
        while (end !== -1) {
          const message: StreamMessage = {}
          for (const line of buffer.slice(0, end).split('\n')) {
            if (line.startsWith(':')) message.comment = line.slice(1).trim()
            const colon = line.indexOf(':')
            if (colon > 0) {
              const field = line.slice(0, colon) as keyof StreamMessage
              message[field] = line.slice(colon + 1).replace(/^ /, '')
            }
          }
          messages.push(message)
          buffer = buffer.slice(end + 2)
          end = buffer.indexOf('\n\n')
        }
      }
    } catch {
      // aborted by close()
    } finally {
      resolveEnded()
    }
  })()
  return stream
}

export const basicAuth = (clientId: string, clientSecret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`
