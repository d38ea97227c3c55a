import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import {
  cleanupProcesses,
  login,
  preparedDataDir,
  register,
  requestJson,
  startServerProcess,
  tempDir,
} from '../helpers/process.js'

afterEach(cleanupProcesses)

const TRACER = fileURLToPath(new URL('../fixtures/trace-packages.mjs', import.meta.url))

/**
 * What a server that only signs people in and refreshes never loads: each is imported at its first
 * use (idle RSS on PostgreSQL went from 174 to about 130 MB; docs/benchmarks.md, footprint).
 */
const LOADED_AT_FIRST_USE = [
  '@zxcvbn-ts/core', // the password estimator: the first register, reset or change
  '@zxcvbn-ts/language-en',
  'nodemailer', // the first mail over SMTP
  '@simplewebauthn/server', // the first passkey ceremony
  'qrcode', // the first TOTP enrolment
  '@node-rs/bcrypt', // the first imported bcrypt hash
  'ioredis', // only with REDIS_URL
  'tar', // only to unpack a new embedded data dir
  'csv-parse', // `tessera users import`
  'cli-progress',
]

describe('tessera serve, idle', () => {
  it('loads none of the packages only some requests need, until one needs them', async () => {
    const trace = join(await tempDir(), 'packages.txt')
    const server = await startServerProcess({
      TESSERA_DATA_DIR: await preparedDataDir(),
      SMTP_URL: 'smtp://127.0.0.1:1',
      NODE_OPTIONS: `--import ${TRACER}`,
      TRACE_PACKAGES_FILE: trace,
    })
    expect((await requestJson(`${server.url}/.well-known/jwks.json`)).status).toBe(200)
    expect((await login(server.url, 'nobody@example.com', 'not a password at all')).status).toBe(401)
    const idle = new Set((await readFile(trace, 'utf8')).split('\n'))
    // the trace sees what the server does load (kysely and typebox are in the bundle: scripts/bundle.mjs)
    expect(idle).toContain('fastify')
    expect(idle).toContain('@electric-sql/pglite')
    expect(LOADED_AT_FIRST_USE.filter((name) => idle.has(name))).toEqual([])

    // and a registration loads the estimator then
    expect((await register(server.url, 'first@example.com', 'correct horse battery staple')).status).toBe(201)
    const after = new Set((await readFile(trace, 'utf8')).split('\n'))
    expect(after).toContain('@zxcvbn-ts/core')
  })
})
