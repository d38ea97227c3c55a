/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, or BENCH_CPU_PROF=<dir> for the harness's
 * `tessera serve` children): where the main thread's busy time went, by package and by function.
 *
 *   npm run bench:profile -- <dir or .cpuprofile files> [--top 25]
 *
 * Self time only (time in a function's own code, not its callees), idle time left out. Work on
 * libuv's thread pool (argon2, WebCrypto signatures) is not in a main-thread profile.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Which package or part of the runtime a frame belongs to. */
function groupOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  if (url.startsWith('node:')) return 'node internals'
  const modules = url.lastIndexOf('node_modules/')
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/')
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url)
  }
  const workspace = /\/packages\/([^/]+)\//.exec(url)
  if (workspace) return `@tessera/${workspace[1]}`
  return url
}

async function profileFiles(paths: string[]): Promise<string[]> {
  const files: string[] = []
  for (const path of paths) {
    if ((await stat(path)).isDirectory()) {
      for (const name of await readdir(path)) if (name.endsWith('.cpuprofile')) files.push(join(path, name))
    } else {
      files.push(path)
    }
  }
  return files
}

const percent = (part: number, whole: number) => `${((part / whole) * 100).toFixed(1).padStart(5)} %`

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' } },
  })
  const files = await profileFiles(positionals)
  if (files.length === 0) {
    process.stderr.write('usage: npm run bench:profile -- <dir or .cpuprofile files> [--top N]\n')
    process.exitCode = 2
    return
  }
  for (const file of files) {
    const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
    const byId = new Map(profile.nodes.map((node) => [node.id, node]))
    const selfByFunction = new Map<string, number>()
    const selfByGroup = new Map<string, number>()
    let busy = 0
    let idle = 0
    profile.samples.forEach((id, i) => {
      const node = byId.get(id)
      const micros = profile.timeDeltas[i] ?? 0
      if (!node) return
      const { functionName, url, lineNumber } = node.callFrame
      if (functionName === '(idle)') {
        idle += micros
        return
      }
      busy += micros
      const group = groupOf(node.callFrame)
      const name = `${functionName || '(anonymous)'}  ${url ? `${url.replace(/^.*node_modules\//, '')}:${lineNumber + 1}` : ''}`
      selfByFunction.set(name, (selfByFunction.get(name) ?? 0) + micros)
      selfByGroup.set(group, (selfByGroup.get(group) ?? 0) + micros)
    })
    const total = busy + idle
    const lines = [
      `${file}`,
      `  ${(total / 1e6).toFixed(1)} s profiled, main thread busy ${percent(busy, total).trim()}`,
      '  busy time by package:',
      ...[...selfByGroup]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([group, micros]) => `    ${percent(micros, busy)}  ${group}`),
      `  top ${values.top} functions by self time:`,
      ...[...selfByFunction]
        .sort((a, b) => b[1] - a[1])
        .slice(0, Number(values.top))
        .map(([name, micros]) => `    ${percent(micros, busy)}  ${name}`),
      '',
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
  }
}

await main()
