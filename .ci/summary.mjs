// Prints vitest's JSON report as one plain closing line: "label: N passed, N failed, N skipped",
// then the same counts and the time per test group (unit, database, process: .ci/test-groups.mjs).
import { readFileSync } from 'node:fs'
import { relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GROUPS, groupOf } from './test-groups.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const [file, label] = process.argv.slice(2)
const report = JSON.parse(readFileSync(file, 'utf8'))
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${label}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`)

const counts = new Map(GROUPS.map((group) => [group, { passed: 0, failed: 0, skipped: 0, ms: 0 }]))
for (const result of report.testResults ?? []) {
  let group
  try {
    group = groupOf(relative(ROOT, result.name).split(sep).join('/'))
  } catch {
    continue // a file gone since the run
  }
  const count = counts.get(group)
  count.ms += (result.endTime ?? 0) - (result.startTime ?? 0)
  for (const test of result.assertionResults ?? []) {
    if (test.status === 'passed') count.passed++
    else if (test.status === 'failed') count.failed++
    else count.skipped++
  }
}
for (const [group, count] of counts) {
  if (count.passed + count.failed + count.skipped === 0) continue
  // seconds summed over files: the workers run two at a time, so the groups add up to more than the run
  console.log(
    `  ${group}: ${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped, ` +
      `${Math.round(count.ms / 1000)} s in its files`,
  )
}
process.exit(report.numTotalTests > 0 && report.numFailedTests === 0 ? 0 : 1)
