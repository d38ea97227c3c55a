import { KeyObject } from 'node:crypto'
import fc from 'fast-check'
import type { HTTPMethods } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochSeconds } from '../../src/clock.js'
import { ERRORS } from '../../src/errors.js'
import { testClock } from '../helpers/clock.js'
import { recordingMailer } from '../helpers/mail.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { createCredentialPool } from './credential-pool.js'
import { describeExchange } from './describe-exchange.js'
import type { MintContext } from './forged-token.js'
import { readOpenApi } from './openapi-document.js'
import { requestPlanArbitrary } from './request-plan.js'
import { resolveRequest } from './resolve-request.js'
import { createResponseChecker } from './response-checks.js'
import { createStatusTally } from './status-tally.js'

/**
 * Fuzzes every route of the server's own OpenAPI document with seeded, re-runnable input:
 * valid and invalid bodies derived from the schemas, real, forged and garbage credentials,
 * hostile path parameters and content types. Every answer must keep the contract of API.md.
 *
 *   FUZZ_SEED=123 FUZZ_RUNS=500 npx vitest run --project database packages/server/test/fuzz/
 */

// about 12 s on in-memory PGlite or PostgreSQL on two idle cores; 40 s with the rest of the suite running
const DEFAULT_RUNS = 5000
const METRICS_TOKEN = 'fuzz-metrics-token-0123456789abcdef'
const INJECT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

function integerFromEnv(name: string, min = Number.MIN_SAFE_INTEGER): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`${name} must be an integer of at least ${min}, got "${raw}"`)
  }
  return value
}

function injectMethod(method: string): HTTPMethods {
  const found = INJECT_METHODS.find((known) => known === method)
  if (!found) throw new Error(`the fuzzer has no way to send ${method}`)
  return found
}

function mintContext(server: TestServer): MintContext {
  const { kid, alg, key } = server.deps.keyRing.signingKey()
  return {
    signing: { kid, alg, key: key instanceof KeyObject ? key : KeyObject.from(key) },
    issuer: server.config.publicUrl,
    audience: server.config.audience,
    now: () => epochSeconds(server.clock.now()),
  }
}

describe('every route of /openapi.json under fuzzed input', () => {
  // fast-check keeps 32 bits of a seed: one that fits prints the same here as in its report
  const seed = integerFromEnv('FUZZ_SEED') ?? Date.now() % 2 ** 31
  const numRuns = integerFromEnv('FUZZ_RUNS', 1) ?? DEFAULT_RUNS
  // reset, verification and magic links land here, so their tokens can be spent
  const mailer = recordingMailer()
  let server: TestServer

  beforeAll(async () => {
    server = await startTestServer(
      // behind a proxy, as in production: X-Forwarded-For reaches sessions and the audit log; the
      // routes that are off by default on too, so they are fuzzed
      {
        TESSERA_METRICS_TOKEN: METRICS_TOKEN,
        TESSERA_TRUST_PROXY: '127.0.0.1',
        TESSERA_MAGIC_LINK: 'on',
      },
      testClock(),
      { mailer },
    )
  })

  afterAll(async () => {
    await server?.close()
  })

  it('keeps the contract for every request: no 5xx, problem+json errors, no tokens for bad input, declared shapes', {
    timeout: 180_000,
  }, async () => {
    console.log(`fuzz: seed ${seed} runs ${numRuns} (re-run with FUZZ_SEED=${seed})`)
    const served = await server.app.inject({ method: 'GET', url: '/openapi.json' })
    expect(served.statusCode).toBe(200)
    const document = readOpenApi(served.json())
    expect(document.operations.length).toBeGreaterThan(0)

    const pool = createCredentialPool(server.app, mailer)
    await pool.refill()
    const checker = createResponseChecker(document, ERRORS)
    const context = { document, pool, mint: mintContext(server), metricsToken: METRICS_TOKEN }
    const allowedOrigin = server.config.allowedOrigins[0] ?? server.config.publicUrl
    const tally = createStatusTally()
    const started = performance.now()

    const property = fc.asyncProperty(requestPlanArbitrary({ document, allowedOrigin }), async (plan) => {
      await pool.refill()
      const request = resolveRequest(plan, context)
      const response = await server.app.inject({
        method: injectMethod(request.method),
        url: request.url,
        headers: request.headers,
        ...(request.payload === undefined ? {} : { payload: request.payload }),
      })
      const route = request.operation
        ? `${request.operation.method} ${request.operation.path}`
        : '(not in the document)'
      tally.record(route, response.statusCode)
      pool.observe(request.sent, response)
      const problems = checker.check(request, response)
      if (problems.length === 0) return
      tally.failed()
      throw new Error(describeExchange(request, response, problems))
    })

    try {
      await fc.assert(property, { seed, numRuns })
    } finally {
      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      const database = server.database.url === 'memory://' ? 'PGlite' : 'PostgreSQL'
      console.log(
        `fuzz: seed ${seed}, ${seconds} s on ${database}, ${pool.registered()} pool users registered, ${tally.summary()}`,
      )
    }
  })
})
