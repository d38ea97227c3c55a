import type { Readable } from 'node:stream'

/** Where a command writes: a stream, or anything with `write(text)` (a test's buffer). */
export interface CliOutput {
  write(text: string): unknown
}

/** Where a command reads a password or an answer; a terminal has `isTTY` and `setRawMode`. */
export type CliInput = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void }

/** Everything a command reads from or writes to the outside: the process's, or a test's. */
export interface CliIo {
  /** The variables the configuration is parsed from (`process.env` in the `tessera` process). */
  env: Readonly<Record<string, string | undefined>>
  stdin: CliInput
  stdout: CliOutput
  stderr: CliOutput
  /** Whether a person answers at stdin; default `stdin.isTTY`. */
  isTTY?: boolean
  /**
   * Stops `serve` as SIGTERM does (a test running it in-process). Without it, `serve` listens for
   * SIGTERM and SIGINT on the process.
   */
  signal?: AbortSignal
}

export const isTerminal = (io: CliIo): boolean => io.isTTY ?? io.stdin.isTTY === true

/** Writes a usage message to stderr; 2, the exit code of a usage error. */
export function usage(io: CliIo, text: string): number {
  io.stderr.write(text)
  return 2
}
