import { type Child, type StartOptions, startScript, waitForMessage } from './children.js'

/** A measuring child process (probes/): one bounded measurement per `run`. */
export interface Probe {
  child: Child
  /** Runs one measurement of `seconds`; answers operations per second. */
  run(seconds: number): Promise<number>
  stop(): Promise<void>
}

export async function startProbe(
  file: string,
  options: StartOptions = {},
  timeoutMs = 60_000,
): Promise<Probe> {
  const child = await startScript(file, options)
  try {
    await waitForMessage(child, 'ready', timeoutMs)
  } catch (error) {
    await child.stop(1000)
    throw error
  }
  return {
    child,
    async run(seconds) {
      const answer = waitForMessage<{ type: 'result'; perSecond: number }>(
        child,
        'result',
        seconds * 1000 + 60_000,
      )
      child.process.send({ type: 'run', seconds })
      return (await answer).perSecond
    },
    stop: () => child.stop(),
  }
}
