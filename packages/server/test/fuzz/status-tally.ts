/** Counts answers by status, overall and per route, for the summary a fuzz run prints. */
export interface StatusTally {
  record(route: string, status: number): void
  /** Marks the request just recorded as the first that broke the contract; later ones are shrinking. */
  failed(): void
  summary(): string
}

const bump = (counts: Map<number, number>, status: number): void => {
  counts.set(status, (counts.get(status) ?? 0) + 1)
}

const histogram = (counts: Map<number, number>): string =>
  [...counts.entries()]
    .sort(([left], [right]) => left - right)
    .map(([status, count]) => `${status}×${count}`)
    .join(' ')

export function createStatusTally(): StatusTally {
  const statuses = new Map<number, number>()
  const routes = new Map<string, Map<number, number>>()
  let requests = 0
  let firstFailure: number | undefined
  return {
    record(route, status) {
      requests += 1
      bump(statuses, status)
      const perRoute = routes.get(route) ?? new Map<number, number>()
      routes.set(route, perRoute)
      bump(perRoute, status)
    },
    failed() {
      firstFailure ??= requests
    },
    summary() {
      const cases =
        firstFailure === undefined
          ? `${requests} cases`
          : `${firstFailure} cases, the last one failing, then ${requests - firstFailure} requests shrinking it`
      const perRoute = [...routes.entries()]
        .sort(([left], [right]) => left.localeCompare(right))
        .map(([route, counts]) => `  ${route}: ${histogram(counts)}`)
      return [cases, `statuses: ${histogram(statuses)}`, ...perRoute].join('\n')
    },
  }
}
