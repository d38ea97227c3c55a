import type { MetricsSnapshot } from '../metrics.js'

/**
 * What a `serve --workers` worker tells its primary over the cluster IPC channel: that it listens,
 * that it needs the whole service's metrics for a scrape (`scrape`), or its own share of them
 * (`snapshot`, the answer to a `collect`).
 */
export type WorkerMessage =
  | { type: 'tessera:listening'; address: string }
  | { type: 'tessera:scrape'; id: number }
  | { type: 'tessera:snapshot'; id: number; snapshot?: MetricsSnapshot; error?: string }

/** What the primary sends a worker: a request for its metrics, or the answer to its `scrape`. */
export type PrimaryMessage =
  | { type: 'tessera:collect'; id: number }
  | { type: 'tessera:scraped'; id: number; text?: string; error?: string }

type Fields = Record<string, unknown>

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null

/** A message from a worker, or undefined for anything else on the channel (prom-client's, Node's). */
export function workerMessage(value: unknown): WorkerMessage | undefined {
  if (!isObject(value)) return undefined
  if (value.type === 'tessera:listening' && typeof value.address === 'string') {
    return { type: value.type, address: value.address }
  }
  if (typeof value.id !== 'number') return undefined
  if (value.type === 'tessera:scrape') return { type: value.type, id: value.id }
  if (value.type === 'tessera:snapshot') {
    if (Array.isArray(value.snapshot)) {
      // the worker's own Registry.getMetricsAsJSON(), structured-cloned: aggregateMetrics reads it
      return { type: value.type, id: value.id, snapshot: value.snapshot as MetricsSnapshot }
    }
    return { type: value.type, id: value.id, error: String(value.error ?? 'no metrics in the answer') }
  }
  return undefined
}

/** A message from the primary, or undefined for anything else on the channel. */
export function primaryMessage(value: unknown): PrimaryMessage | undefined {
  if (!isObject(value) || typeof value.id !== 'number') return undefined
  if (value.type === 'tessera:collect') return { type: value.type, id: value.id }
  if (value.type === 'tessera:scraped') {
    return typeof value.text === 'string'
      ? { type: value.type, id: value.id, text: value.text }
      : { type: value.type, id: value.id, error: String(value.error ?? 'no metrics in the answer') }
  }
  return undefined
}
