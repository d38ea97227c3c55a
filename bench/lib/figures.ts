import { median } from './stats.js'

export const SCENARIOS = ['protected-route', 'login', 'refresh', 'peer', 'footprint'] as const
export type ScenarioName = (typeof SCENARIOS)[number]

/** What a goal asks of a figure: its ratio to the baseline, or its raw value, against a threshold. */
export interface Goal {
  kind: 'ratio-at-least' | 'ratio-at-most' | 'value-at-most'
  threshold: number
}

/** One measured figure, always next to the baseline it is a ratio of. */
export interface Figure {
  /** Stable key, e.g. `protected.one-token.fastify-middleware`. */
  id: string
  scenario: ScenarioName
  subject: string
  metric: string
  unit: string
  /** Median of `runs`. */
  value: number
  runs: number[]
  /** Raw figures shown beside the value (p99 latency, errors, …). */
  detail?: string
  baseline: { label: string; unit: string; value: number; runs: number[] }
  /** value / baseline.value */
  ratio: number
  goal?: Goal & { met: boolean }
  notes?: string[]
}

export interface FigureInput {
  id: string
  scenario: ScenarioName
  subject: string
  metric: string
  unit: string
  runs: number[]
  detail?: string
  baseline: { label: string; unit: string; runs: number[] }
  goal?: Goal
  notes?: string[]
}

const meets = (goal: Goal, value: number, ratio: number): boolean => {
  switch (goal.kind) {
    case 'ratio-at-least':
      return ratio >= goal.threshold
    case 'ratio-at-most':
      return ratio <= goal.threshold
    case 'value-at-most':
      return value <= goal.threshold
  }
}

/** Medians, ratio and goal of one figure. */
export function figure(input: FigureInput): Figure {
  const value = median(input.runs)
  const baselineValue = median(input.baseline.runs)
  const ratio = value / baselineValue
  const result: Figure = {
    id: input.id,
    scenario: input.scenario,
    subject: input.subject,
    metric: input.metric,
    unit: input.unit,
    value,
    runs: input.runs,
    baseline: { ...input.baseline, value: baselineValue },
    ratio,
  }
  if (input.detail !== undefined) result.detail = input.detail
  if (input.goal) result.goal = { ...input.goal, met: meets(input.goal, value, ratio) }
  if (input.notes?.length) result.notes = input.notes
  return result
}

/** How a goal reads in the table: `>= 0.90x`, `<= 15 ms`. */
export function goalText(goal: Goal, unit: string): string {
  switch (goal.kind) {
    case 'ratio-at-least':
      return `>= ${goal.threshold.toFixed(2)}x`
    case 'ratio-at-most':
      return `<= ${goal.threshold.toFixed(2)}x`
    case 'value-at-most':
      return `<= ${goal.threshold} ${unit}`
  }
}
