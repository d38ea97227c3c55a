/** Shares one run of a task among every caller that asks while it runs. */
export interface SingleFlight<T> {
  /** Starts `task`, or joins the run in flight (whose task then wins); all callers get one outcome. */
  run(task: () => Promise<T>): Promise<T>
  /** Resolves once no run is in flight, whatever its outcome (its callers receive that). */
  idle(): Promise<void>
}

export function singleFlight<T>(): SingleFlight<T> {
  let pending: Promise<T> | undefined
  return {
    run(task) {
      if (!pending) {
        const started = Promise.resolve().then(task)
        pending = started
        const clear = () => {
          if (pending === started) pending = undefined
        }
        started.then(clear, clear)
      }
      return pending
    },
    async idle() {
      while (pending) {
        // the outcome belongs to the run's own callers; here we only wait for it
        await pending.then(
          () => undefined,
          () => undefined,
        )
      }
    },
  }
}
