import { SingleBar } from 'cli-progress'
import type { CliOutput } from './io.js'

/** How far a long command is: rows done and bytes of its file read. */
export interface Progress {
  update(rows: number, bytes: number): void
  stop(): void
}

/** A terminal: cli-progress draws on it (cursor moves, line clears). */
type TerminalOutput = CliOutput & NodeJS.WritableStream & { isTTY: true }

const isTerminalOutput = (output: CliOutput): output is TerminalOutput =>
  (output as { isTTY?: unknown }).isTTY === true

/** Seconds between two plain progress lines. */
const LINE_EVERY_SECONDS = 10

/**
 * A progress bar (rows, rate, ETA) when `output` is a terminal; otherwise a plain line every
 * ten seconds, which a log file or CI keeps readable. The ETA comes from the bytes read against
 * the file's size (`totalBytes`, 0 when unknown), so it needs no first pass to count rows.
 */
export function progressOn(output: CliOutput, totalBytes: number, label: string): Progress {
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  const rate = (rows: number) => Math.round(rows / Math.max(elapsed(), 0.001))
  const share = (bytes: number) => (totalBytes > 0 ? Math.min(bytes / totalBytes, 1) : 0)
  /** Seconds left at the pace so far, from the bytes read; undefined before any. */
  const eta = (bytes: number) => {
    const done = share(bytes)
    return done > 0 ? Math.round((elapsed() * (1 - done)) / done) : undefined
  }
  if (isTerminalOutput(output)) {
    const bar = new SingleBar({
      stream: output,
      format: `${label} [{bar}] {percentage}% | {rows} rows | {rate} rows/s | ETA {left}`,
      fps: 5,
      hideCursor: true,
    })
    bar.start(Math.max(totalBytes, 1), 0, { rows: 0, rate: 0, left: '…' })
    // the bar redraws five times a second: telling it of every row would cost more than the drawing
    let next = 0
    let rowsSoFar = 0
    return {
      update(rows, bytes) {
        rowsSoFar = rows
        if (performance.now() < next) return
        next = performance.now() + 100
        const left = eta(bytes)
        bar.update(Math.min(bytes, totalBytes), {
          rows,
          rate: rate(rows),
          left: left === undefined ? '…' : duration(left),
        })
      },
      stop() {
        // the whole file was read: the last picture says so, whatever the throttle skipped
        bar.update(Math.max(totalBytes, 1), { rows: rowsSoFar, rate: rate(rowsSoFar), left: '0 s' })
        bar.stop()
      },
    }
  }
  let next = LINE_EVERY_SECONDS
  return {
    update(rows, bytes) {
      const seconds = elapsed()
      if (seconds < next) return
      next = seconds + LINE_EVERY_SECONDS
      const left = eta(bytes)
      output.write(
        `${label}: ${rows} rows, ${Math.round(share(bytes) * 100)}%, ${rate(rows)} rows/s` +
          `${left === undefined ? '' : `, about ${duration(left)} left`}\n`,
      )
    },
    stop() {},
  }
}

/** `42 s`, `3 min 05 s`. */
function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`
}
