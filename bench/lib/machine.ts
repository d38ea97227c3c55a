import { execFileSync } from 'node:child_process'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { ROOT_DIR } from './children.js'

/** Where the figures come from; printed above the table and stored in the JSON. */
export interface Machine {
  cores: number
  cpu: string
  memoryGb: number
  node: string
  postgres: string | undefined
  uvThreadpoolSize: number
  /** 1-minute load average at the start and at the end of the run. */
  loadAverage: { start: number; end?: number }
  commit: string | undefined
}

export function describeMachine(postgres: string | undefined): Machine {
  let commit: string | undefined
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT_DIR, encoding: 'utf8' }).trim()
  } catch {
    commit = undefined
  }
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    loadAverage: { start: loadavg()[0] ?? 0 },
    commit,
  }
}

export const currentLoad = (): number => loadavg()[0] ?? 0
