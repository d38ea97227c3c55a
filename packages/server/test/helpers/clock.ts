import type { Clock } from '../../src/clock.js'

/** A clock that stands still until a test moves it. */
export interface TestClock extends Clock {
  advance(seconds: number): void
  set(date: Date): void
}

export function testClock(start: Date = new Date()): TestClock {
  let current = new Date(Math.floor(start.getTime() / 1000) * 1000)
  return {
    now: () => new Date(current),
    advance(seconds) {
      current = new Date(current.getTime() + seconds * 1000)
    },
    set(date) {
      current = new Date(date)
    },
  }
}
