import type { Readable } from 'node:stream'
import type { CliOutput } from './io.js'

/**
 * Reads a password from an interactive prompt (not echoed, asked twice) or, when stdin is not a
 * terminal, from the first line of stdin. Never from the command line, where `ps` and shell history see it.
 */
export async function readPassword(
  input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void },
  output: CliOutput,
): Promise<string> {
  if (!input.isTTY || !input.setRawMode) {
    let text = ''
    for await (const chunk of input) {
      text += String(chunk)
      // the first line is the password: stop there, whether or not more follows or stdin stays open
      const newline = text.indexOf('\n')
      if (newline !== -1) return text.slice(0, newline).replace(/\r$/, '')
    }
    return text.replace(/\r$/, '')
  }
  const first = await prompt(input, output, 'Password: ')
  const second = await prompt(input, output, 'Repeat password: ')
  if (first !== second) throw new Error('the passwords do not match')
  return first
}

function prompt(
  input: Readable & { setRawMode?: (raw: boolean) => void },
  output: CliOutput,
  question: string,
): Promise<string> {
  output.write(question)
  input.setRawMode?.(true)
  input.resume()
  return new Promise((resolve, reject) => {
    let value = ''
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          finish()
          resolve(value)
          return
        }
        if (char === '\u0003') {
          finish()
          reject(new Error('cancelled'))
          return
        }
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1)
        else value += char
      }
    }
    const finish = () => {
      input.off('data', onData)
      input.setRawMode?.(false)
      input.pause()
      output.write('\n')
    }
    input.on('data', onData)
  })
}
