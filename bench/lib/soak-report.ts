import type { Machine } from './machine.js'
import { EXPECTED_STATUS, type KindCounts, type KindTable, type Unexpected } from './soak-load.js'
import { SOAK_KINDS, type SoakKind, type SoakOptions } from './soak-options.js'
import { quantile } from './stats.js'

/** One kind's requests in a window (or the whole run), latencies reduced to percentiles (ms). */
export interface KindSummary {
  scheduled: number
  droppedInFlight: number
  droppedNoClient: number
  sent: number
  completed: number
  /** Answers with the expected status. */
  ok: number
  statuses: Record<string, number>
  p50: number | null
  p99: number | null
  max: number | null
}

/** The server's state every `sampleEvery` seconds, and the load of the window that just ended. */
export interface SoakSample {
  /** Seconds since the load started (0: the server idle before it, users and sessions in place). */
  t: number
  at: string
  /** VmRSS of the server process (`/proc/<pid>/status`), MB. */
  rssMb: number | null
  /** From `/metrics` (prom-client's default metrics): MB and ms; null when the scrape failed. */
  heapUsedMb: number | null
  heapTotalMb: number | null
  externalMb: number | null
  /** Event-loop delay since the previous scrape (prom-client resets its histogram on each), ms. */
  lagP99Ms: number | null
  lagMeanMs: number | null
  lagMaxMs: number | null
  /** `tessera_active_sessions` (live sessions, counted by the server at scrape time). */
  activeSessions: number | null
  /** CPU of the server process and of this load generator over the window, % of one core. */
  serverCpuPercent: number | null
  generatorCpuPercent: number
  loadAverage: number
  inFlight: number
  openConnections: number
  signedInClients: number
  kinds: Record<SoakKind, KindSummary>
}

export type SeriesKey =
  | 'rssMb'
  | 'heapUsedMb'
  | 'heapTotalMb'
  | 'externalMb'
  | 'lagP99Ms'
  | 'lagMeanMs'
  | 'activeSessions'

/** One measure over the run: at the first sample after the warm-up, at the last, its largest. */
export interface SeriesSummary {
  key: SeriesKey
  label: string
  unit: string
  start: number | null
  startT: number | null
  end: number | null
  endT: number | null
  max: number | null
  maxT: number | null
  /** end / start. */
  ratio: number | null
  /** Least-squares slope over the samples from start to end, in the measure's unit per 10 minutes. */
  trendPer10Min: number | null
}

export const SERIES: readonly { key: SeriesKey; label: string; unit: string }[] = [
  { key: 'rssMb', label: 'RSS (/proc VmRSS)', unit: 'MB' },
  { key: 'heapUsedMb', label: 'V8 heap used', unit: 'MB' },
  { key: 'heapTotalMb', label: 'V8 heap total', unit: 'MB' },
  { key: 'externalMb', label: 'external memory (buffers)', unit: 'MB' },
  { key: 'lagP99Ms', label: 'event-loop lag p99', unit: 'ms' },
  { key: 'lagMeanMs', label: 'event-loop lag mean', unit: 'ms' },
  { key: 'activeSessions', label: 'live sessions', unit: '' },
]

export function summarizeKind(kind: SoakKind, counts: KindCounts): KindSummary {
  const sorted = [...counts.latencies].sort((a, b) => a - b)
  const round = (value: number) => Math.round(value * 100) / 100
  return {
    scheduled: counts.scheduled,
    droppedInFlight: counts.droppedInFlight,
    droppedNoClient: counts.droppedNoClient,
    sent: counts.sent,
    completed: counts.completed,
    ok: counts.statuses[String(EXPECTED_STATUS[kind])] ?? 0,
    statuses: { ...counts.statuses },
    p50: sorted.length ? round(quantile(sorted, 0.5)) : null,
    p99: sorted.length ? round(quantile(sorted, 0.99)) : null,
    max: sorted.length ? round(sorted[sorted.length - 1] ?? 0) : null,
  }
}

export function summarizeTable(table: KindTable): Record<SoakKind, KindSummary> {
  return {
    login: summarizeKind('login', table.login),
    refresh: summarizeKind('refresh', table.refresh),
    me: summarizeKind('me', table.me),
    sessions: summarizeKind('sessions', table.sessions),
    logout: summarizeKind('logout', table.logout),
  }
}

/** Statuses other than the expected one, by kind: `{ refresh: { '503': 2 } }`. */
export function unexpectedStatuses(
  kinds: Record<SoakKind, KindSummary>,
): Partial<Record<SoakKind, Record<string, number>>> {
  const found: Partial<Record<SoakKind, Record<string, number>>> = {}
  for (const kind of SOAK_KINDS) {
    for (const [status, count] of Object.entries(kinds[kind].statuses)) {
      if (status === String(EXPECTED_STATUS[kind])) continue
      found[kind] = { ...found[kind], [status]: count }
    }
  }
  return found
}

function slope(points: readonly { t: number; value: number }[]): number | null {
  if (points.length < 2) return null
  const meanT = points.reduce((sum, p) => sum + p.t, 0) / points.length
  const meanV = points.reduce((sum, p) => sum + p.value, 0) / points.length
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.t - meanT) * (p.value - meanV)
    den += (p.t - meanT) ** 2
  }
  return den === 0 ? null : (num / den) * 600
}

/** The series from the first sample at or after `warmup` seconds to the last sample. */
export function summarizeSeries(samples: readonly SoakSample[], warmup: number): SeriesSummary[] {
  const loaded = samples.filter((sample) => sample.t > 0)
  const afterWarmup = loaded.filter((sample) => sample.t >= warmup)
  // a run shorter than the warm-up still gets a start: its last sample
  const window = afterWarmup.length ? afterWarmup : loaded.slice(-1)
  return SERIES.map(({ key, label, unit }) => {
    const points = window.flatMap((sample) => {
      const value = sample[key]
      return value === null ? [] : [{ t: sample.t, value }]
    })
    const first = points[0]
    const last = points[points.length - 1]
    const top = points.reduce<{ t: number; value: number } | undefined>(
      (best, p) => (best === undefined || p.value > best.value ? p : best),
      undefined,
    )
    return {
      key,
      label,
      unit,
      start: first?.value ?? null,
      startT: first?.t ?? null,
      end: last?.value ?? null,
      endT: last?.t ?? null,
      max: top?.value ?? null,
      maxT: top?.t ?? null,
      ratio: first && last && first.value !== 0 ? last.value / first.value : null,
      trendPer10Min: slope(points),
    }
  })
}

const fixed = (value: number | null, digits = 1): string => (value === null ? 'n/a' : value.toFixed(digits))
const withUnit = (value: number | null, unit: string, digits = 1) =>
  value === null ? 'n/a' : `${fixed(value, digits)}${unit ? ` ${unit}` : ''}`
const signed = (value: number | null, unit: string) =>
  value === null ? 'n/a' : `${value >= 0 ? '+' : ''}${value.toFixed(1)}${unit ? ` ${unit}` : ''}`

const statusText = (statuses: Record<string, number>): string =>
  Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => `${status}×${count}`)
    .join(' ')

/** One line per sample while the soak runs. */
export function sampleLine(sample: SoakSample): string {
  const kinds = SOAK_KINDS.map((kind) => {
    const k = sample.kinds[kind]
    return `${kind} ${k.completed}/${k.sent} ${fixed(k.p50, 0)}/${fixed(k.p99, 0)}`
  }).join(' · ')
  const errors = Object.entries(unexpectedStatuses(sample.kinds))
    .map(([kind, statuses]) => `${kind} ${statusText(statuses ?? {})}`)
    .join(', ')
  const dropped = SOAK_KINDS.reduce(
    (sum, kind) => sum + sample.kinds[kind].droppedInFlight + sample.kinds[kind].droppedNoClient,
    0,
  )
  return [
    `${String(Math.round(sample.t)).padStart(5)}s`,
    `rss ${fixed(sample.rssMb)} MB`,
    `heap ${fixed(sample.heapUsedMb)}/${fixed(sample.heapTotalMb)} MB`,
    `ext ${fixed(sample.externalMb)} MB`,
    `lag p99 ${fixed(sample.lagP99Ms)} mean ${fixed(sample.lagMeanMs)} ms`,
    `cpu ${fixed(sample.serverCpuPercent, 0)}%`,
    `sessions ${sample.activeSessions ?? 'n/a'}`,
    `| done/sent p50/p99 ms: ${kinds}`,
    `| ${errors ? `UNEXPECTED ${errors}` : 'no errors'}${dropped ? `, ${dropped} dropped` : ''}`,
  ].join('  ')
}

export interface SoakReport {
  generatedAt: string
  machine: Machine
  options: SoakOptions
  /** Seconds the load ran (from the first scheduled start to the last answer). */
  loadSeconds: number
  series: SeriesSummary[]
  totals: Record<SoakKind, KindSummary>
  /** Statuses other than the expected ones; any makes the exit code 1. */
  unexpected: Partial<Record<SoakKind, Record<string, number>>>
  firstUnexpected: readonly Unexpected[]
  /** What went wrong besides statuses (a server that exited, a failed scrape), each a line. */
  problems: string[]
  samples: SoakSample[]
}

interface Column {
  header: string
  cells: string[]
}

function seriesColumns(report: SoakReport): Column[] {
  const rows = report.series
  return [
    { header: 'measure', cells: rows.map((s) => s.label) },
    { header: 'start', cells: rows.map((s) => `${withUnit(s.start, s.unit)} (${fixed(s.startT, 0)} s)`) },
    { header: 'end', cells: rows.map((s) => `${withUnit(s.end, s.unit)} (${fixed(s.endT, 0)} s)`) },
    { header: 'max', cells: rows.map((s) => `${withUnit(s.max, s.unit)} (${fixed(s.maxT, 0)} s)`) },
    { header: 'end/start', cells: rows.map((s) => (s.ratio === null ? 'n/a' : `${s.ratio.toFixed(2)}x`)) },
    { header: 'trend per 10 min', cells: rows.map((s) => signed(s.trendPer10Min, s.unit)) },
  ]
}

function totalsColumns(report: SoakReport): Column[] {
  const kinds = [...SOAK_KINDS]
  const t = report.totals
  const rate = (kind: SoakKind) =>
    kind === 'login'
      ? `${report.options.rates.login} + ${report.options.rates.logout} after logouts`
      : String(report.options.rates[kind])
  return [
    { header: 'kind', cells: kinds },
    { header: 'rate /s', cells: kinds.map(rate) },
    { header: 'scheduled', cells: kinds.map((k) => String(t[k].scheduled)) },
    { header: 'sent', cells: kinds.map((k) => String(t[k].sent)) },
    { header: 'completed', cells: kinds.map((k) => String(t[k].completed)) },
    { header: 'expected status', cells: kinds.map((k) => `${t[k].ok} × ${EXPECTED_STATUS[k]}`) },
    {
      header: 'other statuses',
      cells: kinds.map((k) => statusText(report.unexpected[k] ?? {}) || 'none'),
    },
    { header: 'dropped', cells: kinds.map((k) => String(t[k].droppedInFlight + t[k].droppedNoClient)) },
    { header: 'p50 ms', cells: kinds.map((k) => fixed(t[k].p50)) },
    { header: 'p99 ms', cells: kinds.map((k) => fixed(t[k].p99)) },
    { header: 'max ms', cells: kinds.map((k) => fixed(t[k].max, 0)) },
  ]
}

function textGrid(columns: readonly Column[]): string {
  const widths = columns.map((c) => Math.max(c.header.length, ...c.cells.map((cell) => cell.length)))
  const rows = columns[0]?.cells.length ?? 0
  const line = (cell: (c: Column) => string) =>
    columns
      .map((c, i) => cell(c).padEnd(widths[i] ?? 0))
      .join(' | ')
      .trimEnd()
  return [
    line((c) => c.header),
    widths.map((w) => '-'.repeat(w)).join('-+-'),
    ...Array.from({ length: rows }, (_, r) => line((c) => c.cells[r] ?? '')),
  ].join('\n')
}

function markdownGrid(columns: readonly Column[]): string {
  const rows = columns[0]?.cells.length ?? 0
  const line = (cell: (c: Column) => string) =>
    `| ${columns.map((c) => cell(c).replaceAll('|', '\\|')).join(' | ')} |`
  return [
    line((c) => c.header),
    `|${columns.map(() => ' --- ').join('|')}|`,
    ...Array.from({ length: rows }, (_, r) => line((c) => c.cells[r] ?? '')),
  ].join('\n')
}

export function headerLines(report: SoakReport): string[] {
  const { machine, options } = report
  return [
    `soak on ${options.database === 'pglite' ? 'embedded PGlite (new data dir)' : 'PostgreSQL (new database)'}, ` +
      `${(report.loadSeconds / 60).toFixed(1)} min of load, ${options.users} users, ${options.clients} clients, ` +
      `at most ${options.maxInFlight} in flight, ${report.generatedAt}`,
    `${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GB, Node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres ?? 'not available'}, load average ${machine.loadAverage.start.toFixed(2)} at start` +
      `${machine.loadAverage.end === undefined ? '' : `, ${machine.loadAverage.end.toFixed(2)} at end`}` +
      `${machine.commit ? `, commit ${machine.commit}` : ''}`,
    `start = first sample at or after the ${options.warmup} s warm-up; trend = least-squares slope from start to end`,
  ]
}

function verdictLines(report: SoakReport): string[] {
  const lines: string[] = []
  const unexpected = Object.entries(report.unexpected)
  if (unexpected.length) {
    lines.push('UNEXPECTED STATUSES:')
    for (const [kind, statuses] of unexpected) lines.push(`  ${kind}: ${statusText(statuses ?? {})}`)
    for (const first of report.firstUnexpected) {
      lines.push(`  e.g. ${first.kind} ${first.status} at ${(first.at / 1000).toFixed(1)} s: ${first.body}`)
    }
  }
  for (const problem of report.problems) lines.push(`PROBLEM: ${problem}`)
  const dropped = SOAK_KINDS.reduce(
    (sum, kind) => sum + report.totals[kind].droppedInFlight + report.totals[kind].droppedNoClient,
    0,
  )
  if (dropped) {
    lines.push(
      `note: ${dropped} scheduled requests were dropped (in-flight cap or no free client): the load was not fully sustained`,
    )
  }
  if (!lines.length) lines.push('every request answered with its expected status; nothing dropped')
  return lines
}

export function textReport(report: SoakReport): string {
  return [
    ...headerLines(report),
    '',
    textGrid(seriesColumns(report)),
    '',
    textGrid(totalsColumns(report)),
    '',
    ...verdictLines(report),
  ].join('\n')
}

export function markdownReport(report: SoakReport): string {
  return [
    headerLines(report).join('  \n'),
    '',
    markdownGrid(seriesColumns(report)),
    '',
    markdownGrid(totalsColumns(report)),
    '',
    verdictLines(report).join('  \n'),
    '',
  ].join('\n')
}
