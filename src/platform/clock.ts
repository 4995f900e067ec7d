// Injectable time, so tests can move it and services never call Date.now() directly.
export interface Clock {
  /** Wall-clock time in milliseconds since the epoch. */
  now(): number
  /** Monotonic milliseconds, for durations. */
  monotonic(): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
}
