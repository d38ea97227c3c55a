/** The source of the current time; flows take it as a parameter so tests can fix it. */
export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

/** Seconds since the epoch, as JWT claims count them. */
export const epochSeconds = (date: Date): number => Math.floor(date.getTime() / 1000)
