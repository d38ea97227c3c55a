import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { aggregateMetrics, type MetricsSnapshot } from '../metrics.js'
import { type PrimaryMessage, workerMessage } from './messages.js'

export interface PrimaryOptions {
  /** Worker processes to keep running, 2 or more. */
  workers: number
  logger: Logger
  /** Called once, when every worker first listens, with the address they listen on. */
  onListening: (address: string) => void
  /** Milliseconds after SIGTERM or SIGINT at which workers still draining are killed. */
  forceExitAfterMs: number
}

/** A worker that dies sooner than this many milliseconds after it was forked died young. */
const STABLE_AFTER_MS = 10_000
/**
 * Workers dying young this many times in a row, with none left listening, are a crash loop: the
 * primary gives up. While one still serves, the others are restarted (a database outage makes
 * starting workers fail, and the one serving answers 503 until it is back).
 */
const MAX_YOUNG_DEATHS = 5
/** Milliseconds before restarting after the first young death; doubles with each next one. */
const BACKOFF_MS = 500
/** The longest wait before a restart. */
const MAX_BACKOFF_MS = 30_000
/** Milliseconds a scrape waits for every worker's metrics (the worker asking waits 5 s). */
const COLLECT_TIMEOUT_MS = 3000

interface Collection {
  waiting: Set<Worker>
  snapshots: MetricsSnapshot[]
  finish(error?: Error): void
}

/**
 * The primary of `serve --workers`: forks the workers (which share its listening port through
 * node:cluster), restarts one that dies, forwards SIGTERM and SIGINT, and adds up the workers'
 * metrics when one of them is scraped. It serves no request and holds no database connection.
 * Resolves with the exit code once every worker has exited.
 */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { logger } = options
  // structured clone, not JSON: metric values may be NaN or Infinity
  cluster.setupPrimary({ serialization: 'advanced' })

  /** The workers alive, with when each was forked. */
  const startedAt = new Map<Worker, number>()
  const listening = new Set<Worker>()
  const collections = new Map<number, Collection>()
  const restartTimers = new Set<NodeJS.Timeout>()
  let nextCollection = 0
  let announced = false
  let youngDeaths = 0
  let stopping: { exitCode: number } | undefined
  let finished: (code: number) => void = () => {}

  const send = (worker: Worker, message: PrimaryMessage): void => {
    if (worker.isConnected()) worker.send(message)
  }

  function fork(): void {
    const worker = cluster.fork()
    startedAt.set(worker, performance.now())
    worker.on('message', (raw: unknown) => onMessage(worker, raw))
    worker.on('exit', (code, signal) => onExit(worker, code, signal))
  }

  function onMessage(worker: Worker, raw: unknown): void {
    const message = workerMessage(raw)
    if (message?.type === 'tessera:listening') {
      listening.add(worker)
      if (announced) logger.info({ workerPid: worker.process.pid }, 'restarted worker is listening')
      else if (listening.size === options.workers) {
        announced = true
        options.onListening(message.address)
      }
    } else if (message?.type === 'tessera:scrape') {
      const { id } = message
      collect().then(
        (text) => send(worker, { type: 'tessera:scraped', id, text }),
        (error: unknown) => {
          logger.warn({ err: error }, 'gathering the metrics of every worker failed')
          send(worker, { type: 'tessera:scraped', id, error: String(error) })
        },
      )
    } else if (message?.type === 'tessera:snapshot') {
      const collection = collections.get(message.id)
      if (!collection?.waiting.delete(worker)) return
      if (!message.snapshot) collection.finish(new Error(`worker ${worker.process.pid}: ${message.error}`))
      else {
        collection.snapshots.push(message.snapshot)
        if (collection.waiting.size === 0) collection.finish()
      }
    }
  }

  /** Every listening worker's metrics, added up: a scrape of any worker reports the whole service. */
  function collect(): Promise<string> {
    const id = nextCollection++
    return new Promise<MetricsSnapshot[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = [...(collections.get(id)?.waiting ?? [])].map((worker) => worker.process.pid)
        collections
          .get(id)
          ?.finish(new Error(`no metrics within ${COLLECT_TIMEOUT_MS} ms from pid ${late.join(', ')}`))
      }, COLLECT_TIMEOUT_MS)
      const collection: Collection = {
        // a worker whose channel is closed would never answer: the scrape would wait it out
        waiting: new Set([...listening].filter((worker) => worker.isConnected())),
        snapshots: [],
        finish(error) {
          clearTimeout(timer)
          collections.delete(id)
          if (error) reject(error)
          else resolve(collection.snapshots)
        },
      }
      collections.set(id, collection)
      if (collection.waiting.size === 0) collection.finish()
      for (const worker of collection.waiting) send(worker, { type: 'tessera:collect', id })
    }).then(aggregateMetrics)
  }

  function onExit(worker: Worker, code: number | null, signal: string | null): void {
    const pid = worker.process.pid
    const lived = performance.now() - (startedAt.get(worker) ?? 0)
    startedAt.delete(worker)
    listening.delete(worker)
    // a worker that died mid-scrape no longer counts: the others' metrics still answer it
    for (const collection of collections.values()) {
      if (collection.waiting.delete(worker) && collection.waiting.size === 0) collection.finish()
    }
    if (stopping) {
      if (startedAt.size === 0) finished(stopping.exitCode)
      return
    }
    if (!announced) {
      // a worker that cannot start (port taken, database refused, bad secret) would fail again
      logger.fatal({ workerPid: pid, code, signal }, 'a worker exited while starting; stopping the others')
      stop('SIGTERM', 1)
      return
    }
    youngDeaths = lived < STABLE_AFTER_MS ? youngDeaths + 1 : 0
    if (youngDeaths >= MAX_YOUNG_DEATHS && listening.size === 0) {
      logger.fatal(
        { workerPid: pid, code, signal, deaths: youngDeaths, withinMs: STABLE_AFTER_MS },
        'workers keep dying soon after they start; giving up',
      )
      stop('SIGTERM', 1)
      return
    }
    const delayMs = youngDeaths === 0 ? 0 : Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** (youngDeaths - 1))
    logger.error(
      { workerPid: pid, code, signal, restartInMs: delayMs },
      'worker exited unexpectedly; restarting it',
    )
    const timer = setTimeout(() => {
      restartTimers.delete(timer)
      fork()
    }, delayMs)
    restartTimers.add(timer)
  }

  function stop(signal: NodeJS.Signals, exitCode: number): void {
    if (stopping) {
      logger.warn({ signal }, 'already shutting down')
      return
    }
    stopping = { exitCode }
    for (const timer of restartTimers) clearTimeout(timer)
    restartTimers.clear()
    const workers = [...startedAt.keys()]
    if (workers.length === 0) {
      finished(exitCode)
      return
    }
    logger.info({ signal, workers: workers.length }, 'shutting down: stopping every worker')
    // each worker drains as a single server does (its own deadline), then exits
    for (const worker of workers) worker.process.kill(signal)
    const force = setTimeout(() => {
      const left = [...startedAt.keys()]
      logger.error(
        { workerPids: left.map((worker) => worker.process.pid) },
        'workers still running: killing them',
      )
      if (stopping) stopping.exitCode = 1
      for (const worker of left) worker.process.kill('SIGKILL')
    }, options.forceExitAfterMs)
    force.unref()
  }

  return new Promise<number>((resolve) => {
    finished = resolve
    process.on('SIGTERM', () => stop('SIGTERM', 0))
    process.on('SIGINT', () => stop('SIGINT', 0))
    for (let i = 0; i < options.workers; i++) fork()
  })
}
