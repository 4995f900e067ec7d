// A clock the test moves by hand, for the services that take an injected Clock: time passes
// exactly when and by how much the test says, whatever the load on the machine.
import type { Clock } from '../../src/platform/clock.ts'

export type ManualClock = Clock & { advance(ms: number): void }

/** Starts at `start` (default: now) and stands still until advanced. */
export function manualClock(start = Date.now()): ManualClock {
  let now = start
  return { now: () => now, monotonic: () => now, advance: (ms) => (now += ms) }
}
