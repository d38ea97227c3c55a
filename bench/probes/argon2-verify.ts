/**
 * The ceiling of login: @node-rs/argon2 verifications with the server's parameters, `BENCH_CONCURRENCY`
 * at a time (the login connections), on libuv's pool of UV_THREADPOOL_SIZE threads like the server.
 */
import { hash, verify } from '@node-rs/argon2'
import { OWASP_ARGON2ID } from '../../packages/server/src/passwords/hasher.js'
import { serveRuns } from './serve-runs.js'

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8)
const PASSWORD = 'correct horse battery staple'
// 2 is Algorithm.Argon2id (a const enum)
const stored = await hash(PASSWORD, { ...OWASP_ARGON2ID, algorithm: 2 })

serveRuns(async (seconds) => {
  const started = performance.now()
  const end = started + seconds * 1000
  let done = 0
  const worker = async () => {
    while (performance.now() < end) {
      if (!(await verify(stored, PASSWORD))) throw new Error('argon2 verify failed')
      done++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return done / ((performance.now() - started) / 1000)
})
