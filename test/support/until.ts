// Waiting for what a test expects without fixed sleeps: poll a probe until it yields a value,
// with a deadline generous enough for a loaded 2-core CI machine. A test that waits for an
// event asserts the event, not how long it took.

export type UntilOptions = {
  /** Give up after this long (default 20 s); keep it under the test's own timeout. */
  timeoutMs?: number
  /** Pause between probes (default 50 ms). */
  intervalMs?: number
  /** Added to the error when the deadline passes: what was seen instead (logs, rows...). */
  explain?: () => string | Promise<string>
}

/** Pauses for pacing a loop (a driver, a probe interval). Never put one before an assertion to
 * "give something time": wait for the thing with `until` instead. */
export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/**
 * Calls `probe` until it returns something other than undefined, null or false, and returns that.
 * Throws `<what>: not within <timeoutMs> ms` (plus `explain()`) when the deadline passes; an error
 * thrown by the probe propagates at once.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: UntilOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== null && value !== false) return value
    if (performance.now() > deadline) {
      const detail = options.explain ? `\n${await options.explain()}` : ''
      throw new Error(`${what}: not within ${timeoutMs} ms${detail}`)
    }
    await pause(options.intervalMs ?? 50)
  }
}
