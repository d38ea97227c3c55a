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
  const rate = (rows: number) => Math.round(rows / Math.max((performance.now() - started) / 1000, 0.001))
  if (isTerminalOutput(output)) {
    const bar = new SingleBar({
      stream: output,
      format: `${label} [{bar}] {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}`,
      etaBuffer: 50,
      fps: 5,
      hideCursor: true,
    })
    bar.start(Math.max(totalBytes, 1), 0, { rows: 0, rate: 0 })
    return {
      update: (rows, bytes) => bar.update(Math.min(bytes, totalBytes), { rows, rate: rate(rows) }),
      stop: () => bar.stop(),
    }
  }
  let next = LINE_EVERY_SECONDS
  return {
    update(rows, bytes) {
      const seconds = (performance.now() - started) / 1000
      if (seconds < next) return
      next = seconds + LINE_EVERY_SECONDS
      const share = totalBytes > 0 ? Math.min(bytes / totalBytes, 1) : 0
      const eta = share > 0 ? Math.round((seconds * (1 - share)) / share) : undefined
      output.write(
        `${label}: ${rows} rows, ${Math.round(share * 100)}%, ${rate(rows)} rows/s` +
          `${eta === undefined ? '' : `, about ${eta} s left`}\n`,
      )
    },
    stop() {},
  }
}
