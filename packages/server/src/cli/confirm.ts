import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { CliOutput } from './io.js'

/**
 * Asks a yes/no question and reads one line: only `y` or `yes` is a yes; anything else, or the end
 * of input, is a no. The terminal stays in its normal mode, so Ctrl-C ends the process as usual.
 */
export async function confirm(input: Readable, output: CliOutput, question: string): Promise<boolean> {
  output.write(question)
  const lines = createInterface({ input, terminal: false })
  try {
    for await (const line of lines) return /^(y|yes)$/i.test(line.trim())
    return false
  } finally {
    lines.close()
  }
}
