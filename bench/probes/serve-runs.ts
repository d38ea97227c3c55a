/** The parent's side: `{ type: 'run', seconds }` in, `{ type: 'result', perSecond }` out. */
export interface RunMessage {
  type: 'run'
  seconds: number
}

/**
 * Answers the harness's run requests with `measure`, one at a time, and ends the process when the
 * harness goes away.
 */
export function serveRuns(measure: (seconds: number) => Promise<number>): void {
  process.on('disconnect', () => process.exit(0))
  let queue = Promise.resolve()
  process.on('message', (message: RunMessage) => {
    if (message?.type !== 'run') return
    queue = queue.then(async () => {
      process.send?.({ type: 'result', perSecond: await measure(message.seconds) })
    })
  })
  process.send?.({ type: 'ready', port: 0 })
}
