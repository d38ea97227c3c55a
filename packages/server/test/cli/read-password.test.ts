import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { readPassword } from '../../src/cli/read-password.js'

const sink = () => new PassThrough()

describe('readPassword from a pipe (not a terminal)', () => {
  it('takes the first line, without its line ending', async () => {
    expect(await readPassword(Readable.from(['correct horse\r\n', 'second line\n']), sink())).toBe(
      'correct horse',
    )
    expect(await readPassword(Readable.from(['correct ', 'horse\n']), sink())).toBe('correct horse')
  })

  it('takes the whole input when it has no line ending', async () => {
    expect(await readPassword(Readable.from(['correct horse']), sink())).toBe('correct horse')
    expect(await readPassword(Readable.from([]), sink())).toBe('')
  })

  it('does not wait for the end of input once it has a line', async () => {
    const input = new PassThrough()
    input.write('correct horse\n')
    // never ended: reading must still finish
    expect(await readPassword(input, sink())).toBe('correct horse')
  })

  it('keeps spaces inside and around the password', async () => {
    expect(await readPassword(Readable.from(['  two  spaces  \n']), sink())).toBe('  two  spaces  ')
  })
})
