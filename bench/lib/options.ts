import { parseArgs } from 'node:util'
import { SCENARIOS, type ScenarioName } from './figures.js'

/** Durations are seconds. Every load is bounded by one of them. */
export interface BenchParams {
  /** Measured runs per figure; the figure is their median. */
  runs: number
  protectedRoute: {
    connections: number
    tokens: number
    /** Seconds per subject and run, in `slices` turns. */
    duration: number
    slices: number
    /** Seconds of warm-up per subject and shape; or, with `warmupRequests`, that many requests. */
    warmup: number
    warmupRequests?: number
    verifyDuration: number
  }
  login: {
    loginConnections: number
    healthConnections: number
    users: number
    duration: number
    quietDuration: number
    argon2Duration: number
    bcryptCost: number
  }
  refresh: { connections: number[]; duration: number; warmup: number; largeRows: number }
  peer: { loginConnections: number; sessionConnections: number; loginDuration: number; duration: number }
  footprint: { idleWait: number }
}

export interface BenchOptions {
  quick: boolean
  /** Run `npm run build` for the server and middleware first (the CLI and the middleware run from dist). */
  build: boolean
  scenarios: ScenarioName[]
  params: BenchParams
}

const FULL: BenchParams = {
  runs: 3,
  protectedRoute: { connections: 50, tokens: 10_000, duration: 5, slices: 5, warmup: 1, verifyDuration: 3 },
  login: {
    loginConnections: 8,
    healthConnections: 10,
    users: 8,
    duration: 8,
    quietDuration: 3,
    argon2Duration: 5,
    bcryptCost: 12,
  },
  // the refresh warm-up is long: rotations per second still rose by half from the first to the
  // fourth 3-second run of one server (JIT, PostgreSQL caches)
  refresh: { connections: [16, 64], duration: 5, warmup: 4, largeRows: 1_000_000 },
  peer: { loginConnections: 8, sessionConnections: 50, loginDuration: 8, duration: 5 },
  footprint: { idleWait: 2 },
}

// one run each, loads of a second, no million-row database: a smoke-level measurement of the
// figures issue 21's goals are about, against their baselines. The comparisons with other stacks
// (the tutorial servers, jose's remote JWKS, Better Auth) and the figures no goal is about
// (pgbench's unprepared mode, the Express adapter, refresh on PGlite) are in the full run only
// (docs/benchmarks.md "How long a run takes"). The short loads cost precision: a figure of --quick
// moves more from run to run than one of the full run
const QUICK: BenchParams = {
  runs: 1,
  protectedRoute: {
    connections: 50,
    tokens: 2_000,
    // autocannon runs whole seconds: 1 is its shortest measurement
    duration: 1,
    slices: 1,
    warmup: 1,
    // a warm-up by count (lib/load.ts warmUp): an autocannon run takes a whole second however short
    warmupRequests: 300,
    verifyDuration: 0.5,
  },
  login: {
    loginConnections: 8,
    healthConnections: 10,
    users: 8,
    duration: 1,
    quietDuration: 1,
    argon2Duration: 1,
    bcryptCost: 12,
  },
  refresh: { connections: [16], duration: 1, warmup: 1, largeRows: 0 },
  peer: { loginConnections: 8, sessionConnections: 50, loginDuration: 4, duration: 1.5 },
  footprint: { idleWait: 0.5 },
}

export const USAGE = `npm run bench [-- --quick] [-- --only protected-route,login,refresh,peer,footprint] [-- --no-build]`

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
    },
    strict: true,
  })
  const only = values.only?.split(',').map((name) => name.trim())
  for (const name of only ?? []) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown scenario "${name}"; one of ${SCENARIOS.join(', ')}`)
    }
  }
  return {
    quick: values.quick,
    build: !values['no-build'],
    // the peer scenario compares with Better Auth only: --quick leaves it out unless named
    scenarios:
      (only as ScenarioName[] | undefined) ?? SCENARIOS.filter((name) => !(values.quick && name === 'peer')),
    params: values.quick ? QUICK : FULL,
  }
}
