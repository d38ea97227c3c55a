import { TesseraError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { primaryMessage, type WorkerMessage } from './messages.js'

/** A `serve --workers` worker's side of the IPC channel to its primary. */
export interface PrimaryLink {
  /** The whole service's metrics, which the primary gathers from every worker: what `/metrics` serves. */
  scrapeMetrics(): Promise<string>
  /** Tells the primary this worker listens, and from now on answers its requests for `metrics`. */
  listening(address: string, metrics: Pick<Metrics, 'snapshot'>): void
}

/** The process's IPC channel, as the cluster module sets it up in a worker. */
export interface WorkerProcess {
  send?: ((message: WorkerMessage) => boolean) | undefined
  readonly connected?: boolean
  on(event: 'message', listener: (message: unknown) => void): unknown
}

export interface PrimaryLinkOptions {
  /** Milliseconds a scrape waits for the primary's answer; the primary gives up on slow workers sooner. */
  scrapeTimeoutMs: number
}

export function linkToPrimary(channel: WorkerProcess, options: PrimaryLinkOptions): PrimaryLink {
  let nextId = 0
  const scrapes = new Map<number, (answer: { text?: string; error?: string }) => void>()
  let metrics: Pick<Metrics, 'snapshot'> | undefined

  const send = (message: WorkerMessage): boolean =>
    channel.connected === true && channel.send !== undefined && channel.send(message)

  channel.on('message', (raw) => {
    const message = primaryMessage(raw)
    if (message?.type === 'tessera:scraped') scrapes.get(message.id)?.(message)
    else if (message?.type === 'tessera:collect' && metrics) {
      const { id } = message
      metrics.snapshot().then(
        (snapshot) => send({ type: 'tessera:snapshot', id, snapshot }),
        (error: unknown) => send({ type: 'tessera:snapshot', id, error: String(error) }),
      )
    }
  })

  return {
    scrapeMetrics() {
      const id = nextId++
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          scrapes.delete(id)
          reject(
            new TesseraError('SERVICE_UNAVAILABLE', {
              detail: 'The metrics of the other workers did not arrive in time; try again.',
            }),
          )
        }, options.scrapeTimeoutMs)
        scrapes.set(id, (answer) => {
          clearTimeout(timer)
          scrapes.delete(id)
          if (answer.text !== undefined) resolve(answer.text)
          else {
            reject(
              new TesseraError('SERVICE_UNAVAILABLE', {
                detail: 'The metrics of every worker could not be gathered; try again.',
                cause: new Error(answer.error),
              }),
            )
          }
        })
        if (!send({ type: 'tessera:scrape', id })) scrapes.get(id)?.({ error: 'the primary is gone' })
      })
    },
    listening(address, workerMetrics) {
      metrics = workerMetrics
      send({ type: 'tessera:listening', address })
    },
  }
}
