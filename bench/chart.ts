/**
 * Draws the ratios of a results file as a bar chart: hand-written SVG, no dependencies.
 *
 *   npm run bench:chart                     # bench/results/latest.json -> docs/benchmarks.svg
 *   tsx bench/chart.ts <results.json> <out.svg>
 *
 * One bar per figure on a log2 scale around 1x (the baseline): right of the line is more than the
 * baseline, left is less. Green: goal met; red: goal missed; grey: no goal.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Figure } from './lib/figures.js'

export interface ResultsFile {
  generatedAt: string
  quick: boolean
  seconds: number
  machine: { cores: number; cpu: string; node: string; loadAverage: { start: number; end?: number } }
  figures: Figure[]
}

const WIDTH = 1000
const LABEL_WIDTH = 500
const ROW = 22
const TOP = 78
const PLOT_LEFT = LABEL_WIDTH + 10
const PLOT_WIDTH = WIDTH - PLOT_LEFT - 70
// log2 range shown: 1/32x … 32x; bars beyond are clipped and marked with an arrow
const MAX_LOG = 5

const xml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
const xOf = (ratio: number) => {
  const log = Math.max(-MAX_LOG, Math.min(MAX_LOG, Math.log2(ratio)))
  return PLOT_LEFT + ((log + MAX_LOG) / (2 * MAX_LOG)) * PLOT_WIDTH
}

type Row = { heading: string } | { figure: Figure }

/** Figures grouped under a heading per scenario, in the order they were measured. */
function rowsOf(figures: readonly Figure[]): Row[] {
  const rows: Row[] = []
  const scenarios = [...new Set(figures.map((f) => f.scenario))]
  for (const scenario of scenarios) {
    rows.push({ heading: scenario })
    for (const f of figures) if (f.scenario === scenario) rows.push({ figure: f })
  }
  return rows
}

export function renderChart(results: ResultsFile): string {
  const rows = rowsOf(results.figures.filter((f) => Number.isFinite(f.ratio) && f.ratio >= 0))
  const bottom = TOP + rows.length * ROW
  const height = bottom + 60
  const one = xOf(1)
  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12" role="img">`,
    '<title>Tessera benchmarks: each figure as a ratio to its same-run baseline</title>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">Tessera benchmarks: each figure as a ratio to its same-run baseline</text>`,
    `<text x="10" y="42" fill="#555">${xml(
      `${results.quick ? '--quick run (1 run per figure)' : 'full run (median of 3)'}, ${results.generatedAt.slice(0, 10)}; ${results.machine.cores} cores, Node ${results.machine.node}; load average ${results.machine.loadAverage.start.toFixed(1)} at start; log2 scale`,
    )}</text>`,
  )
  for (const tick of [1 / 32, 1 / 8, 1 / 2, 1, 2, 8, 32]) {
    const x = xOf(tick)
    const label = tick < 1 ? `1/${1 / tick}x` : `${tick}x`
    parts.push(
      `<line x1="${x}" y1="${TOP - 8}" x2="${x}" y2="${bottom}" stroke="${tick === 1 ? '#333' : '#ddd'}"/>`,
      `<text x="${x}" y="${TOP - 12}" text-anchor="middle" fill="#555">${label}</text>`,
    )
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW
    if ('heading' in row) {
      parts.push(`<text x="10" y="${y + 15}" font-weight="bold">${xml(row.heading)}</text>`)
      return
    }
    const f = row.figure
    const x = xOf(f.ratio)
    const clipped = Math.abs(Math.log2(f.ratio)) > MAX_LOG
    const color = f.goal ? (f.goal.met ? '#2e8b57' : '#c0392b') : '#8c8c8c'
    const label = `${f.subject} · ${f.metric}`
    const mark = f.goal ? (f.goal.met ? ' ✓' : ' ✗') : ''
    parts.push(
      `<text x="${LABEL_WIDTH}" y="${y + 15}" text-anchor="end">${xml(label.length > 76 ? `${label.slice(0, 75)}…` : label)}</text>`,
      `<rect x="${Math.min(x, one)}" y="${y + 4}" width="${Math.max(1, Math.abs(x - one))}" height="${ROW - 8}" fill="${color}"/>`,
      `<text x="${Math.max(x, one) + 4}" y="${y + 15}" fill="#333">${clipped ? (f.ratio < 1 ? '◂ ' : '▸ ') : ''}${f.ratio.toFixed(2)}x${mark}</text>`,
    )
    if (f.goal && f.goal.kind !== 'value-at-most') {
      const g = xOf(f.goal.threshold)
      parts.push(
        `<line x1="${g}" y1="${y + 2}" x2="${g}" y2="${y + ROW - 2}" stroke="#000" stroke-dasharray="2,2"/>`,
      )
    }
  })
  const legendY = bottom + 30
  parts.push(
    `<rect x="10" y="${legendY - 10}" width="12" height="12" fill="#2e8b57"/><text x="28" y="${legendY}">goal met</text>`,
    `<rect x="110" y="${legendY - 10}" width="12" height="12" fill="#c0392b"/><text x="128" y="${legendY}">goal not met</text>`,
    `<rect x="230" y="${legendY - 10}" width="12" height="12" fill="#8c8c8c"/><text x="248" y="${legendY}">no goal</text>`,
    `<line x1="320" y1="${legendY - 10}" x2="320" y2="${legendY + 2}" stroke="#000" stroke-dasharray="2,2"/><text x="328" y="${legendY}">ratio goal; ◂ beyond the scale; raw numbers and value goals: docs/benchmarks.md</text>`,
    '</svg>',
  )
  return `${parts.join('\n')}\n`
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const here = fileURLToPath(new URL('.', import.meta.url))
  const input = process.argv[2] ?? join(here, 'results/latest.json')
  const output = process.argv[3] ?? join(here, '../docs/benchmarks.svg')
  const results = JSON.parse(await readFile(input, 'utf8')) as ResultsFile
  await writeFile(output, renderChart(results))
  process.stdout.write(`${output}\n`)
}
