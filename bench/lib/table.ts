import { type Figure, goalText } from './figures.js'
import type { Machine } from './machine.js'

const number = (value: number): string => {
  if (!Number.isFinite(value)) return 'n/a'
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en')
  if (Math.abs(value) >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

export const formatValue = (value: number, unit: string): string => `${number(value)} ${unit}`

export interface TableRow {
  scenario: string
  subject: string
  figure: string
  measured: string
  baseline: string
  ratio: string
  goal: string
}

export function tableRows(figures: readonly Figure[]): TableRow[] {
  return figures.map((f) => ({
    scenario: f.scenario,
    subject: f.subject,
    figure: f.metric,
    measured: `${formatValue(f.value, f.unit)}${f.detail ? ` (${f.detail})` : ''}`,
    baseline: `${f.baseline.label}: ${formatValue(f.baseline.value, f.baseline.unit)}`,
    ratio: Number.isFinite(f.ratio) ? `${f.ratio.toFixed(2)}x` : 'n/a',
    goal: f.goal ? `${goalText(f.goal, f.unit)} ${f.goal.met ? 'met' : 'NOT met'}` : '',
  }))
}

const HEADERS: TableRow = {
  scenario: 'scenario',
  subject: 'subject',
  figure: 'figure',
  measured: 'measured (median)',
  baseline: 'baseline (same run)',
  ratio: 'ratio',
  goal: 'goal',
}
const COLUMNS = Object.keys(HEADERS) as (keyof TableRow)[]

/** A fixed-width table for the terminal. */
export function textTable(figures: readonly Figure[]): string {
  const rows = [HEADERS, ...tableRows(figures)]
  const widths = COLUMNS.map((column) => Math.max(...rows.map((row) => row[column].length)))
  const line = (row: TableRow) =>
    COLUMNS.map((column, i) => row[column].padEnd(widths[i] ?? 0))
      .join(' | ')
      .trimEnd()
  return [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.slice(1).map(line)].join('\n')
}

/** The same table in Markdown (docs/benchmarks.md). */
export function markdownTable(figures: readonly Figure[]): string {
  const escapeCell = (text: string) => text.replaceAll('|', '\\|')
  const line = (row: TableRow) => `| ${COLUMNS.map((column) => escapeCell(row[column])).join(' | ')} |`
  return [line(HEADERS), `|${COLUMNS.map(() => ' --- ').join('|')}|`, ...tableRows(figures).map(line)].join(
    '\n',
  )
}

export function machineLine(machine: Machine, quick: boolean, runs: number): string {
  const load = machine.loadAverage
  return [
    `${quick ? '--quick run (1 run per figure)' : `full run (median of ${runs} runs per figure)`}`,
    `${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GB, Node ${machine.node}, PostgreSQL ${machine.postgres ?? 'not available'}`,
    `UV_THREADPOOL_SIZE ${machine.uvThreadpoolSize}, load average ${load.start.toFixed(2)} at start${load.end === undefined ? '' : `, ${load.end.toFixed(2)} at end`}${machine.commit ? `, commit ${machine.commit}` : ''}`,
  ].join('\n')
}
