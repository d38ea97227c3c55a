import { monitorEventLoopDelay } from 'node:perf_hooks'

/** Whether the event loop is running late: the hashing gate then runs one hash at a time. */
export interface LoopPressure {
  congested(): boolean
  stop(): void
}

export interface LoopDelayOptions {
  /** Milliseconds of event-loop delay (p99 over a window) from which the loop counts as congested. */
  thresholdMs: number
  /** Milliseconds per window: the p99 of the last full window decides. Default 250. */
  windowMs?: number
}

/** Sampling interval of the delay histogram, milliseconds; its samples include it. */
const RESOLUTION_MS = 5

/**
 * Watches the event loop's delay with `perf_hooks.monitorEventLoopDelay`: congested while the p99
 * of the last window, less the sampling interval, is at least `thresholdMs`. A hash never blocks
 * the loop (it runs on libuv's pool), but a second one beside it takes the core the loop needs:
 * then cheap routes wait for the scheduler, and the loop's delay is where that shows first.
 */
export function watchLoopDelay(options: LoopDelayOptions): LoopPressure {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  let congested = false
  const timer = setInterval(() => {
    const p99Ms = histogram.count === 0 ? 0 : histogram.percentile(99) / 1e6 - RESOLUTION_MS
    congested = p99Ms >= options.thresholdMs
    histogram.reset()
  }, options.windowMs ?? 250)
  // a watch never keeps the process alive
  timer.unref()
  return {
    congested: () => congested,
    stop() {
      clearInterval(timer)
      histogram.disable()
    },
  }
}
