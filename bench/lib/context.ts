import type { Figure } from './figures.js'
import type { BenchParams } from './options.js'

/** What every scenario gets from the harness. */
export interface BenchContext {
  params: BenchParams
  quick: boolean
  /** A scratch directory, removed at the end of the run. */
  tmpDir: string
  /** Progress on stderr (the table goes to stdout). */
  log(message: string): void
  /** Figures measured earlier in this run, by id: later scenarios compare with them. */
  figures: ReadonlyMap<string, Figure>
}

/** Calls `body(run)` for each measured run, so every subject of a scenario is measured in turn. */
export async function eachRun(context: BenchContext, body: (run: number) => Promise<void>): Promise<void> {
  for (let run = 1; run <= context.params.runs; run++) {
    if (context.params.runs > 1) context.log(`  run ${run}/${context.params.runs}`)
    await body(run)
  }
}
